// The byte form of each table's records, encoder beside decoder (store/codec.hpp gives the
// primitives). A decoder reads a value as LMDB returned it — a view into the map, 2-byte aligned at
// best — and copies what it keeps, except where it says it returns a view (valid as long as the
// input is). A truncated, overlong or out-of-range record throws `CorruptRecord`.
#pragma once

#include <string>
#include <string_view>

#include "store/codec.hpp"
#include "store/types.hpp"

namespace gatehouse::store::records {

// companies: the company's name.
std::string encodeCompany(std::string_view name);
std::string_view decodeCompanyName(std::string_view bytes);  // a view into `bytes`

// role_names key: the scope (company, 0 for system roles) then the role's name.
std::string roleNameKey(CompanyId scope, std::string_view name);

// principals: kind, state, owner company, name, description.
std::string encodePrincipal(const PrincipalRecord& r);
PrincipalRecord decodePrincipal(PrincipalId id, std::string_view bytes);
// The state alone, without copying the names (the API-key check path).
PrincipalState decodePrincipalState(std::string_view bytes);

// roles: company (0: system), name, permission set.
std::string encodeRole(const RoleRecord& r);
RoleRecord decodeRole(RoleId id, std::string_view bytes);

// grants: direct permission set, role ids, then the expiry when there is one.
std::string encodeGrant(const GrantRecord& g);
GrantRecord decodeGrant(std::string_view bytes);

// keys: account, times, the keyed hash of the secret.
std::string encodeKey(const KeyRecord& k);
KeyRecord decodeKey(uint64_t id, std::string_view bytes);

// transfers: the company offered the ownership, whether the owner keeps access, when.
std::string encodeTransfer(const TransferOffer& t);
TransferOffer decodeTransfer(std::string_view bytes);

// totp: the last accepted step, the sealed secret.
std::string encodeTotp(const TotpRecord& t);
TotpRecord decodeTotp(std::string_view bytes);

// audit: one event; `companies` as given (the writer sorts and deduplicates them).
std::string encodeAudit(const AuditRecord& r);
AuditRecord decodeAudit(uint64_t sequence, std::string_view bytes);

}  // namespace gatehouse::store::records
