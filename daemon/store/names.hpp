// Validation of what callers may name things: permission names (docs/protocol.md), entity names,
// and well-formed UTF-8 — the one UTF-8 validator of the daemon, used by the store and the service.
// Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::store {

// `^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`, at most kMaxPermissionName bytes.
bool isValidPermissionName(std::string_view name);
// Well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool isValidUtf8(std::string_view s);
// Why `name` cannot name a company, principal or role (naming `field`); nullopt when it can.
std::optional<std::string> checkEntityName(std::string_view field, std::string_view name);

}  // namespace gatehouse::store
