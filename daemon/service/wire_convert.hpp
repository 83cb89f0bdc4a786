// Conversions between the store's types and the wire schema, in one place: enums both ways (an
// unknown wire value is refused, never mapped to a default), text views and builders. Internal to
// daemon/service.
#pragma once

#include <capnp/message.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse.capnp.h"
#include "protocol/errors.hpp"
#include "store/effective_row.hpp"
#include "store/store.hpp"

namespace gatehouse::service {

static_assert(static_cast<int>(wire::DenyReason::NOT_GRANTED) ==
              static_cast<int>(store::DenyReason::notGranted));
static_assert(static_cast<int>(wire::DenyReason::UNKNOWN_PERMISSION) ==
              static_cast<int>(store::DenyReason::unknownPermission));
static_assert(static_cast<int>(wire::DenyReason::NO_ACCESS) ==
              static_cast<int>(store::DenyReason::noAccess));
static_assert(static_cast<int>(wire::DenyReason::PRINCIPAL_DISABLED) ==
              static_cast<int>(store::DenyReason::principalDisabled));
static_assert(static_cast<int>(wire::DenyReason::UNKNOWN_COMPANY) ==
              static_cast<int>(store::DenyReason::unknownCompany));
static_assert(static_cast<int>(wire::DenyReason::UNKNOWN_PRINCIPAL) ==
              static_cast<int>(store::DenyReason::unknownPrincipal));

inline wire::DenyReason toWire(store::DenyReason r) { return static_cast<wire::DenyReason>(r); }

inline wire::ErrorCode toWire(store::RefusalCode c) {
  switch (c) {
    case store::RefusalCode::invalidArgument:
      return wire::ErrorCode::INVALID_ARGUMENT;
    case store::RefusalCode::notFound:
      return wire::ErrorCode::NOT_FOUND;
    case store::RefusalCode::alreadyExists:
      return wire::ErrorCode::ALREADY_EXISTS;
    case store::RefusalCode::limitExceeded:
      return wire::ErrorCode::LIMIT_EXCEEDED;
    case store::RefusalCode::conflict:
      return wire::ErrorCode::CONFLICT;
    case store::RefusalCode::aboveCeiling:
      return wire::ErrorCode::ABOVE_CEILING;
  }
  return wire::ErrorCode::FAILED;
}

inline wire::PrincipalState toWire(store::PrincipalState s) {
  return s == store::PrincipalState::active ? wire::PrincipalState::ACTIVE
                                            : wire::PrincipalState::DISABLED;
}

inline wire::PrincipalKind toWire(store::PrincipalKind k) {
  return k == store::PrincipalKind::user ? wire::PrincipalKind::USER
                                         : wire::PrincipalKind::SERVICE_ACCOUNT;
}

// The store's state for a wire value; nullopt for a value this build does not know.
inline std::optional<store::PrincipalState> fromWire(wire::PrincipalState s) {
  switch (s) {
    case wire::PrincipalState::ACTIVE:
      return store::PrincipalState::active;
    case wire::PrincipalState::DISABLED:
      return store::PrincipalState::disabled;
  }
  return std::nullopt;
}

inline std::string_view view(capnp::Text::Reader t) { return {t.begin(), t.size()}; }

inline std::vector<std::string_view> views(capnp::List<capnp::Text>::Reader list) {
  std::vector<std::string_view> out;
  out.reserve(list.size());
  for (auto t : list) out.push_back(view(t));
  return out;
}

inline std::vector<uint64_t> ids(capnp::List<uint64_t>::Reader list) {
  std::vector<uint64_t> out;
  out.reserve(list.size());
  for (uint64_t id : list) out.push_back(id);
  return out;
}

// Copies bytes that need not be NUL-terminated (views into the map) into a text field.
inline void copyText(capnp::Text::Builder text, std::string_view bytes) {
  std::memcpy(text.begin(), bytes.data(), bytes.size());
}

inline void setNames(capnp::List<capnp::Text>::Builder list,
                     const std::vector<std::string_view>& names) {
  for (unsigned i = 0; i < names.size(); ++i) {
    copyText(list.init(i, static_cast<unsigned>(names[i].size())), names[i]);
  }
}

// The catalog names of a permission set, by bit index; views valid while `g`'s transaction is.
inline std::vector<std::string_view> namesOf(const store::GraphReader& g, std::string_view bits) {
  std::vector<std::string_view> names;
  store::forEachBit(bits, [&](uint32_t bit) {
    if (auto name = g.permissionName(bit)) names.push_back(*name);
  });
  return names;
}

// A list request's page (the envelope's pageSize and pageToken): how many items at most, and
// the token to resume from. Tokens are opaque to clients; a list of two parts (system roles, then
// the company's; owned accounts, then external ones) marks the second part with kSecondPart.
struct Page {
  static constexpr size_t kDefault = 1000;
  static constexpr size_t kMax = 10000;
  static constexpr uint64_t kSecondPart = uint64_t{1} << 63;
  size_t size;
  uint64_t token;

  static Page of(wire::Request::Reader request) {
    size_t size = request.getPageSize() == 0 ? kDefault : request.getPageSize();
    return Page{std::min(size, kMax), request.getPageToken()};
  }
  bool secondPart() const { return (token & kSecondPart) != 0; }
  uint64_t from() const { return token & ~kSecondPart; }
};

// Wall-clock time in unix seconds, as stored in key, audit and usage records.
inline uint64_t unixNow() { return store::clockNow(); }

// Why a grant's `expiresAt` cannot be stored, or nullopt when it can: 0 (never), or a time after
// `now` up to store::kMaxExpiry.
inline std::optional<std::string> badExpiry(uint64_t expiresAt, uint64_t now) {
  if (expiresAt == 0) return std::nullopt;
  if (expiresAt <= now) {
    return fmt::format("expiresAt: {} is not in the future (now: {})", expiresAt, now);
  }
  if (expiresAt > store::kMaxExpiry) {
    return fmt::format("expiresAt: {} is after 9999-12-31T23:59:59Z ({})", expiresAt,
                       store::kMaxExpiry);
  }
  return std::nullopt;
}

// Answers the store's refusal, if any; true when there was one.
inline bool setRefusal(wire::Response::Builder response, const store::Refusal* refusal) {
  if (refusal == nullptr) return false;
  protocol::setError(response, toWire(refusal->code), refusal->message, refusal->missing);
  return true;
}

}  // namespace gatehouse::service
