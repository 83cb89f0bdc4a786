#include "session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <unordered_map>
#include <unordered_set>

#include "output.hpp"
#include "pages.hpp"
#include "wire_text.hpp"

namespace gatehouse::cli {
namespace {

// Requests written before their answers are read. Small enough that neither side's socket buffer
// fills while the other is still writing.
constexpr size_t kPipelineDepth = 64;
// Items per page of a list request: the daemon's most.
constexpr uint32_t kPageSize = 10000;

client::Answer checked(wire::Response::Which expected, client::Answer answer) {
  auto response = answer.get();
  if (response.which() == expected) return answer;
  if (response.which() == wire::Response::ERROR) {
    auto error = response.getError();
    std::optional<std::vector<std::string>> missing;
    if (error.getCode() == wire::ErrorCode::ESCALATION ||
        error.getCode() == wire::ErrorCode::FORBIDDEN || error.hasMissing()) {
      missing.emplace();
      for (auto name : error.getMissing()) missing->emplace_back(view(name));
    }
    throw CommandError(enumName(error.getCode()), std::string(view(error.getMessage())),
                       std::move(missing));
  }
  throw CommandError(
      kProtocolError,
      fmt::format("the daemon answered with union member {} instead of {}",
                  static_cast<unsigned>(response.which()), static_cast<unsigned>(expected)));
}

std::string notFoundMessage(wire::EntityKind kind, std::string_view name, uint64_t scope) {
  switch (kind) {
    case wire::EntityKind::COMPANY:
      return fmt::format("no company named '{}'", name);
    case wire::EntityKind::PRINCIPAL:
      return fmt::format("no principal named '{}'", name);
    case wire::EntityKind::ROLE:
      if (scope == 0) return fmt::format("no system role named '{}'", name);
      return fmt::format("no role named '{}' in company {}", name, scope);
    case wire::EntityKind::PERMISSION:
      break;
  }
  return fmt::format("no {} named '{}'", enumName(kind), name);
}

// The arguments that are names, each once, in the order first seen.
std::vector<std::string> distinctNames(const std::vector<std::string>& namesOrIds) {
  std::vector<std::string> names;
  std::unordered_set<std::string_view> seen;
  for (const std::string& argument : namesOrIds) {
    if (!parseId(argument) && seen.insert(argument).second) names.push_back(argument);
  }
  return names;
}

}  // namespace

std::optional<uint64_t> parseId(std::string_view argument) {
  if (argument.empty() || argument.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  uint64_t id = 0;
  auto result = std::from_chars(argument.data(), argument.data() + argument.size(), id);
  if (result.ec != std::errc()) {
    throw CommandError(kUsageError, fmt::format("'{}' is too large for an id", argument));
  }
  return id;
}

client::Client& Session::client() {
  if (!client_) client_.emplace(client::Client::connect(socketPath_, timeout_));
  return *client_;
}

void Session::stamp(wire::Request::Builder request) const {
  using W = wire::Request::Which;
  auto which = request.which();
  if (minRevision_ != 0 &&
      (which == W::AUTHORIZE || which == W::AUTHORIZE_BATCH || which == W::CHECK_ACCESS ||
       which == W::LIST_PERMISSIONS || which == W::LOOKUP)) {
    request.setMinRevision(minRevision_);
  }
  if (!scope_.forActor() || request.isLookup()) return;
  request.setActor(scope_.actor);
  request.setActiveCompany(scope_.company);
}

client::Answer Session::call(wire::Response::Which expected, const client::Client::Fill& fill) {
  // A list answered in pages is fetched to its end and merged (pages.hpp).
  std::vector<client::Answer> pages;
  uint64_t token = 0;
  do {
    pages.push_back(checked(expected, client().call([&](wire::Request::Builder request) {
      fill(request);
      stamp(request);
      request.setPageSize(kPageSize);
      request.setPageToken(token);
    })));
    token = nextPageToken(pages.back());
  } while (token != 0);
  return mergePages(pages);
}

client::Answer Session::callWithDescriptor(wire::Response::Which expected, int descriptor,
                                           const client::Client::Fill& fill) {
  return checked(expected, client().callWithDescriptor(descriptor, [&](wire::Request::Builder r) {
    fill(r);
    stamp(r);
  }));
}

std::vector<client::Answer> Session::callMany(wire::Response::Which expected, size_t count,
                                              const ManyFill& fill) {
  std::vector<client::Answer> answers;
  answers.reserve(count);
  for (size_t first = 0; first < count; first += kPipelineDepth) {
    size_t chunk = std::min(kPipelineDepth, count - first);
    auto received = client().callMany(chunk, [&](size_t i, wire::Request::Builder request) {
      fill(first + i, request);
      stamp(request);
    });
    for (auto& answer : received) answers.push_back(checked(expected, std::move(answer)));
  }
  return answers;
}

std::vector<std::optional<uint64_t>> Session::lookup(wire::EntityKind kind,
                                                     const std::vector<std::string>& names,
                                                     uint64_t scope) {
  auto answers =
      callMany(wire::Response::LOOKUP, names.size(), [&](size_t i, wire::Request::Builder request) {
        auto query = request.initLookup();
        query.setKind(kind);
        query.setName(toText(names[i]));
        query.setCompany(scope);
      });
  std::vector<std::optional<uint64_t>> ids;
  for (const auto& answer : answers) {
    auto result = answer.get().getLookup();
    ids.push_back(result.getFound() ? std::optional(result.getId()) : std::nullopt);
  }
  return ids;
}

std::vector<uint64_t> Session::resolveAll(wire::EntityKind kind,
                                          const std::vector<std::string>& namesOrIds,
                                          uint64_t scope) {
  std::vector<std::string> names = distinctNames(namesOrIds);
  std::vector<std::optional<uint64_t>> found = lookup(kind, names, scope);
  std::unordered_map<std::string_view, uint64_t> idOfName;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!found[i]) throw CommandError(kNotFound, notFoundMessage(kind, names[i], scope));
    idOfName.emplace(names[i], *found[i]);
  }
  std::vector<uint64_t> ids;
  ids.reserve(namesOrIds.size());
  for (const std::string& argument : namesOrIds) {
    std::optional<uint64_t> id = parseId(argument);
    ids.push_back(id ? *id : idOfName.at(argument));
  }
  return ids;
}

uint64_t Session::resolve(wire::EntityKind kind, std::string_view nameOrId, uint64_t scope) {
  return resolveAll(kind, {std::string(nameOrId)}, scope).front();
}

uint64_t Session::grantableRole(std::string_view nameOrId, uint64_t company) {
  if (auto id = parseId(nameOrId)) return *id;
  std::vector<std::string> name{std::string(nameOrId)};
  if (auto own = lookup(wire::EntityKind::ROLE, name, company).front()) return *own;
  if (auto system = lookup(wire::EntityKind::ROLE, name, 0).front()) return *system;
  throw CommandError(
      kNotFound,
      fmt::format("no role named '{}' in company {} or among the system roles", nameOrId, company));
}

}  // namespace gatehouse::cli
