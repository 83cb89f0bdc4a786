#include "sampler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <random>
#include <string_view>
#include <unordered_map>

#include "errors.hpp"
#include "load.hpp"
#include "output.hpp"
#include "wire_text.hpp"
#include "zipf.hpp"

namespace gatehouse::benchmark {
namespace {

using cli::enumName;
using cli::view;

constexpr size_t kWindow = 1024;       // requests pipelined at once while sampling
constexpr uint32_t kPageSize = 10000;  // the daemon's largest page

// The answer, or BenchmarkError naming what was asked when it is an error or another kind.
wire::Response::Reader expect(const client::Answer& answer, wire::Response::Which kind,
                              std::string_view what) {
  auto response = answer.get();
  if (response.which() == wire::Response::ERROR) {
    auto error = response.getError();
    throw BenchmarkError(enumName(error.getCode()),
                         fmt::format("{}: {}", what, view(error.getMessage())));
  }
  if (response.which() != kind) {
    throw BenchmarkError(kProtocolError, fmt::format("{}: an answer of another kind", what));
  }
  return response;
}

// Follows a list's pages to the end: sends the list request that `ask` sets, `kPageSize` items a
// page, and hands each answer of kind `kind` to `read`, which returns the page's `more` and
// `nextPageToken`.
template <typename Read>
void everyPage(client::Client& client, void (wire::Request::Builder::*ask)(capnp::Void),
               wire::Response::Which kind, std::string_view what, Read read) {
  uint64_t token = 0;
  bool more = true;
  while (more) {
    auto answer = client.call([&](wire::Request::Builder r) {
      (r.*ask)(capnp::VOID);
      r.setPageSize(kPageSize);
      r.setPageToken(token);
    });
    std::tie(more, token) = read(expect(answer, kind, what));
  }
}

std::pair<std::string, uint64_t> askHello(client::Client& client) {
  auto answer = client.call([](wire::Request::Builder r) { r.setHello(); });
  auto hello = expect(answer, wire::Response::HELLO, "hello").getHello();
  return {std::string(view(hello.getVersion())), hello.getRevision()};
}

}  // namespace

std::pair<std::string, uint64_t> hello(const std::string& socket,
                                       std::chrono::milliseconds timeout) {
  auto client = client::Client::connect(socket, timeout);
  return askHello(client);
}

Sampler::Sampler(const std::string& socket, std::chrono::milliseconds timeout,
                 SampleOptions options)
    : client_(client::Client::connect(socket, timeout)), options_(options) {}

const GraphFacts& Sampler::sampleGraph() {
  std::tie(facts_.version, facts_.revision) = askHello(client_);
  readCatalog();
  countCompanies();
  readPrincipals();
  return facts_;
}

void Sampler::readCatalog() {
  everyPage(client_, &wire::Request::Builder::setListCatalog, wire::Response::CATALOG,
            "listCatalog", [&](wire::Response::Reader response) {
              auto catalog = response.getCatalog();
              catalog_.resize(catalog.getFirstBit());
              for (auto name : catalog.getNames()) catalog_.emplace_back(view(name));
              return std::pair{catalog.getMore(), catalog.getNextPageToken()};
            });
  facts_.catalog = catalog_.size();
  if (catalog_.empty()) {
    throw BenchmarkError(kGraphError,
                         "the daemon's permission catalog is empty: there is nothing to check "
                         "(populate the graph, or benchmark a synthetic one with --scratch DIR)");
  }
}

void Sampler::countCompanies() {
  everyPage(client_, &wire::Request::Builder::setListCompanies, wire::Response::COMPANIES,
            "listCompanies", [&](wire::Response::Reader response) {
              auto list = response.getCompanies();
              facts_.companies += list.getCompanies().size();
              return std::pair{list.getMore(), list.getNextPageToken()};
            });
}

std::vector<std::vector<uint64_t>> Sampler::companiesOf(const std::vector<uint64_t>& principals) {
  std::vector<std::vector<uint64_t>> out;
  out.reserve(principals.size());
  for (size_t first = 0; first < principals.size(); first += kWindow) {
    size_t n = std::min(kWindow, principals.size() - first);
    auto answers = client_.callMany(
        n, [&](size_t i, wire::Request::Builder r) { r.setGetPrincipal(principals[first + i]); });
    for (const client::Answer& answer : answers) {
      auto info = expect(answer, wire::Response::PRINCIPAL, "getPrincipal").getPrincipal();
      auto& companies = out.emplace_back();
      if (!info.getFound() || info.getState() != wire::PrincipalState::ACTIVE) continue;
      for (uint64_t company : info.getCompanies()) companies.push_back(company);
    }
  }
  return out;
}

void Sampler::readPrincipals() {
  uint64_t missing = 0;  // ids in a row that named no principal
  uint64_t next = 1;
  while (facts_.principals < options_.principals && missing < kWindow) {
    std::vector<uint64_t> ids(kWindow);
    for (uint64_t& id : ids) id = next++;
    auto answers = client_.callMany(
        ids.size(), [&](size_t i, wire::Request::Builder r) { r.setGetPrincipal(ids[i]); });
    facts_.principalIdsRead += ids.size();
    for (size_t i = 0; i < answers.size() && facts_.principals < options_.principals; ++i) {
      auto info = expect(answers[i], wire::Response::PRINCIPAL, "getPrincipal").getPrincipal();
      missing = info.getFound() ? 0 : missing + 1;
      if (!info.getFound() || info.getState() != wire::PrincipalState::ACTIVE ||
          info.getCompanies().size() == 0) {
        continue;
      }
      ++facts_.principals;
      for (uint64_t company : info.getCompanies()) grants_.push_back({ids[i], 0, company});
    }
  }
  facts_.grants = grants_.size();
  if (facts_.principalIdsRead == kWindow && missing == kWindow) {
    throw BenchmarkError(kGraphError,
                         fmt::format("the daemon's graph has no principals (ids 1 to {} name "
                                     "none): there is nothing to check (populate the graph, or "
                                     "benchmark a synthetic one with --scratch DIR)",
                                     kWindow));
  }
  if (grants_.empty()) {
    throw BenchmarkError(kGraphError,
                         fmt::format("no active principal among ids 1 to {} holds a grant: there "
                                     "is nothing to check (grant access first, or benchmark a "
                                     "synthetic graph with --scratch DIR)",
                                     next - 1));
  }
}

std::vector<Lookup> Sampler::draw(std::vector<Grant> grants, size_t count, uint64_t stream) {
  std::mt19937_64 rng(options_.seed * 2 + stream);
  std::shuffle(grants.begin(), grants.end(), rng);
  load::Zipf zipf(grants.size(), options_.zipf);
  std::vector<size_t> drawn(count);
  for (size_t& k : drawn) k = zipf(rng);

  // The effective permissions of each grant drawn, asked once each.
  std::vector<size_t> unique = drawn;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  std::unordered_map<std::string_view, const std::string*> byName;
  for (const std::string& name : catalog_) byName.emplace(name, &name);
  std::unordered_map<size_t, std::vector<const std::string*>> effective;
  for (size_t first = 0; first < unique.size(); first += kWindow) {
    size_t n = std::min(kWindow, unique.size() - first);
    auto answers = client_.callMany(n, [&](size_t i, wire::Request::Builder r) {
      auto q = r.initListPermissions();
      q.setPrincipal(grants[unique[first + i]].principal);
      q.setCompany(grants[unique[first + i]].company);
    });
    for (size_t i = 0; i < n; ++i) {
      auto list =
          expect(answers[i], wire::Response::PERMISSIONS, "listPermissions").getPermissions();
      auto& names = effective[unique[first + i]];
      for (auto name : list.getNames()) {
        auto found = byName.find(view(name));
        if (found != byName.end()) names.push_back(found->second);
      }
    }
  }

  std::bernoulli_distribution granted(options_.grantedShare);
  std::vector<Lookup> lookups;
  lookups.reserve(count);
  for (size_t k : drawn) {
    const Grant& grant = grants[k];
    const auto& names = effective[k];
    Lookup lookup{grant.principal, grant.key, grant.company, nullptr, false};
    if (!names.empty() && granted(rng)) {
      lookup.permission = names[rng() % names.size()];
      lookup.granted = true;
    } else {
      lookup.permission = &catalog_[rng() % catalog_.size()];
    }
    lookups.push_back(lookup);
  }
  return lookups;
}

std::vector<Lookup> Sampler::authorizeLookups(size_t count) { return draw(grants_, count, 0); }

std::vector<Lookup> Sampler::accessLookups(const KeyRing& keys, size_t count) {
  // checkCredential frames built where the keys can be overwritten afterwards (load::Frames).
  const auto& all = keys.keys();
  load::Frames checks(
      [&](size_t i, wire::Request::Builder r) {
        auto q = r.initCheckCredential();
        std::string_view key = all[i].text;
        auto text = q.initCredential(static_cast<unsigned>(key.size()));
        std::copy(key.begin(), key.end(), text.begin());
        q.setChannel(wire::Channel::API);
      },
      all.size());
  refused_.clear();
  std::vector<uint64_t> accounts;  // by key; 0 when refused
  accounts.reserve(all.size());
  for (size_t first = 0; first < all.size(); first += kWindow) {
    size_t n = std::min(kWindow, all.size() - first);
    std::vector<std::optional<client::Answer>> answers(n);
    for (size_t i = 0; i < n; ++i) client_.sendBytes(checks[first + i]);
    for (size_t i = 0; i < n; ++i) {
      client::Answer answer = client_.receive();
      uint64_t id = answer->getId();
      if (id < first || id >= first + n || answers[id - first]) {
        throw BenchmarkError(kProtocolError,
                             fmt::format("checkCredential: an answer with id {}", id));
      }
      answers[id - first].emplace(std::move(answer));
    }
    for (size_t i = 0; i < n; ++i) {
      auto result =
          expect(*answers[i], wire::Response::CREDENTIAL, "checkCredential").getCredential();
      if (result.getAccepted() && result.getKind() == wire::PrincipalKind::SERVICE_ACCOUNT) {
        accounts.push_back(result.getPrincipal());
        continue;
      }
      accounts.push_back(0);
      refused_.push_back({all[first + i].line, result.getAccepted()
                                                   ? std::string("notServiceAccount")
                                                   : enumName(result.getRefusal())});
    }
  }
  if (refused_.size() == all.size()) {
    throw BenchmarkError(kGraphError,
                         fmt::format("the daemon refused every key given ({}): checkAccess "
                                     "has nothing to present",
                                     all.size()));
  }
  auto companies = companiesOf(accounts);
  std::vector<Grant> grants;
  for (size_t i = 0; i < all.size(); ++i) {
    for (uint64_t company : companies[i]) {
      grants.push_back({accounts[i], static_cast<uint32_t>(i), company});
    }
  }
  accessGrants_ = grants.size();
  if (grants.empty()) {
    throw BenchmarkError(kGraphError,
                         "no service account whose key was accepted holds a grant: checkAccess "
                         "has nothing to check");
  }
  return draw(std::move(grants), count, 1);
}

}  // namespace gatehouse::benchmark
