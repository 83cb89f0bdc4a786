# gatehouse wire protocol: the single source of truth for clients.
#
# A frame on the Unix socket is one standard Cap'n Proto stream-framed message (segment table, then
# segments). Clients send `Request` roots; the daemon answers each with one `Response` root carrying
# the request's `id`. Responses may arrive out of order; clients may pipeline. See docs/protocol.md.
#
# Evolution: fields and union members are only ever added, numbered after the existing ones.

@0xc5e561b80f54ea8f;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("gatehouse::wire");

# ---------------------------------------------------------------------------------------------
# Requests

struct Request {
  id @0 :UInt64;  # Chosen by the client, echoed in the response. Not interpreted by the daemon.

  union {
    ping @1 :Void;  # Liveness probe; answered with `pong`. Check class.

    # --- Check path (access class `check` or `admin`); answered inline from one snapshot ---
    authorize @2 :AuthorizeQuery;
    authorizeBatch @3 :List(AuthorizeQuery);  # At most `limits.max_batch` (default 1,024) items.
    listPermissions @4 :PrincipalInCompany;   # Effective permissions of a principal in a company.
    lookup @5 :Lookup;                        # Resolve a name to an id.
    listCompanies @6 :Void;
    listCatalog @7 :Void;                      # Every defined permission name with its bit index.
    listRoles @8 :ListRoles;
    getPrincipal @9 :UInt64;                   # A principal's record by id.
    getGrant @10 :PrincipalInCompany;          # Direct permissions and roles of one grant.

    # --- Provisioning (access class `admin`, system context); answered after a durable commit ---
    createCompany @11 :CreateCompany;
    definePermissions @12 :List(Text);         # Adds names to the catalog; existing names are kept.
    createRole @13 :CreateRole;
    updateRole @14 :UpdateRole;
    deleteRole @15 :UInt64;                    # Role id. Removed from every grant holding it.
    createUser @16 :CreateUser;
    createServiceAccount @17 :CreateServiceAccount;
    setGrant @18 :SetGrant;                    # Replaces the grant's direct permissions and roles.
    removeGrant @19 :PrincipalInCompany;       # Removes a principal's access to a company.
    setPrincipalState @20 :SetPrincipalState;  # Disable or enable.
    deletePrincipal @21 :UInt64;               # Removes the principal and all of its grants.

    # --- Credential checks (access class `check`); see docs/credentials.md ---
    checkCredential @22 :CredentialCheck;
    checkAccess @23 :AccessCheck;              # Credential check (API channel) + authorize.

    # --- Credential management (access class `admin`, system context) ---
    createKey @24 :CreateKey;                  # Issues a key; the secret is answered once.
    listKeys @25 :UInt64;                      # A service account's keys (never secrets).
    revokeKey @26 :UInt64;                     # Key id; refused from then on as `keyRevoked`.
    resetKeys @27 :CreateKey;                  # Revokes every key of the account, issues one.
    rotateKey @28 :RotateKey;                  # Issues a key; the others retire after a grace.
    setPassword @29 :SetPassword;
    enrollTotp @30 :UInt64;                    # User id; answers the otpauth:// URI once.
    removeTotp @31 :UInt64;                    # User id.

    # --- Management by an actor in its active company (see docs/service-accounts.md) ---
    # `actor` and `activeCompany` below must be set; access class `admin` (the platform's back end
    # acting for its users). None of these names a company: the scope is always `activeCompany`.
    saCreate @32 :SaCreate;            # service_accounts.manage; owned by the active company.
    saDescribe @33 :SaDescribe;        # service_accounts.manage, owner only.
    saResetCredentials @34 :UInt64;    # service_accounts.manage, owner only: revoke all, issue one.
    saDelete @35 :UInt64;              # service_accounts.manage, owner only.
    saSetState @36 :SetPrincipalState; # service_accounts.manage, owner only.
    saGrant @37 :ScopedGrant;          # service_accounts.manage: its grant in the active company.
    saRevoke @38 :UInt64;              # service_accounts.manage: remove its access here.
    saList @39 :Void;                  # service_accounts.read: the Service Accounts view.
    saShow @40 :UInt64;                # service_accounts.read: one row of the view.
    saCompanies @41 :UInt64;           # service_accounts.read, owner only: where it holds grants.
    roleCreate @42 :ScopedRole;        # roles.manage: a role of the active company.
    roleEdit @43 :ScopedRoleEdit;      # roles.manage: a role of the active company.
    roleDelete @44 :UInt64;            # roles.manage: a role of the active company.
    userCreate @45 :CreateUser;        # users.manage.
    userGrant @46 :ScopedGrant;        # users.manage: a user's grant in the active company.
    userRevoke @47 :UInt64;            # users.manage: remove a user's access here.
    auditList @48 :AuditQuery;         # audit.read in the active company; the system sees all.
    saKeyCreate @51 :CreateKey;        # service_accounts.manage, owner only.
    saKeyRevoke @52 :UInt64;           # service_accounts.manage, owner only (key id).
    saKeyRotate @53 :RotateKey;        # service_accounts.manage, owner only.

    # --- Added later (check class) ---
    hello @56 :Void;  # The daemon's version and the writer's health; answered with `hello`.
    stats @57 :Void;  # The daemon's counters and gauges; answered with `stats`.

    # --- Added later (admin class) ---
    backup @58 :Void;  # A consistent copy of the store, written into the file descriptor sent
                       # with this request's frame (SCM_RIGHTS); answered with `backup`.
    acceptDescriptors @59 :Void;  # From now on this connection's reads take descriptors sent
                                  # with frames (SCM_RIGHTS), as `backup` needs; answered `pong`.

    # --- Added later (actor requests; see docs/service-accounts.md, "Sharing") ---
    saShare @60 :SaShare;    # service_accounts.manage, owner only: offer the account to
                             # `company`, which may then grant it access there (saGrant).
    saUnshare @61 :SaShare;  # service_accounts.manage, owner only: withdraw the offer and remove
                             # the account's access to `company`, in one transaction.

    # --- Added later (actor requests; see docs/service-accounts.md, "Ceilings") ---
    saSetCeiling @62 :SaCeiling;  # service_accounts.manage, owner only: the most any other
                                  # company may grant the account; lowering it trims their grants.

    # --- Added later (actor requests; see docs/service-accounts.md, "Transfer") ---
    saOfferOwnership @63 :SaTransfer;  # service_accounts.manage, owner only: offer the account's
                                       # ownership to `company` (replaces a pending offer).
    saCancelTransfer @64 :UInt64;      # service_accounts.manage, the owner or the company
                                       # offered: withdraw (or decline) the pending offer.
    saAcceptOwnership @65 :UInt64;     # service_accounts.manage, the company offered: it becomes
                                       # the owner, and every key of the account is revoked.
  }

  actor @49 :UInt64;          # The principal on whose behalf the request acts; 0: system context.
  activeCompany @50 :UInt64;  # The company the actor acts in.
  pageSize @54 :UInt32;       # List requests (listCompanies, listCatalog, listRoles, saList): at
                              # most this many items per answer; 0: 1,000; capped at 10,000.
  pageToken @55 :UInt64;      # List requests: the `nextPageToken` of the previous page; 0: the
                              # first page.
  dryRun @66 :Bool;           # A mutation that can change effective permissions (docs/protocol.md,
                              # "Dry runs"): answer the `impact` it would have; write nothing.
  minRevision @67 :UInt64;    # authorize, authorizeBatch, checkAccess, listPermissions, lookup:
                              # answer from revision >= this (e.g. a mutation's answer), waiting
                              # up to replication.min_revision_wait_ms for a replica to apply that
                              # far, else `behind` (docs/protocol.md, "Read your writes"). 0: any.
}

struct AuthorizeQuery {
  principal @0 :UInt64;
  company @1 :UInt64;
  permission @2 :Text;  # A catalog name, e.g. "routers.read".
}

struct PrincipalInCompany {
  principal @0 :UInt64;
  company @1 :UInt64;
}

struct Lookup {
  kind @0 :EntityKind;
  name @1 :Text;
  company @2 :UInt64;  # Only for `role`: 0 looks up a system role, otherwise that company's role.
}

enum EntityKind {
  company @0;
  principal @1;
  role @2;
  permission @3;  # The answer's id is the permission's bit index.
}

struct ListRoles {
  company @0 :UInt64;  # 0: system roles only. Otherwise the company's roles and the system roles.
}

struct CreateCompany {
  name @0 :Text;
}

struct CreateRole {
  company @0 :UInt64;  # 0 creates a system role, visible in every company.
  name @1 :Text;
  permissions @2 :List(Text);  # Catalog names; every one must be defined.
}

struct UpdateRole {
  role @0 :UInt64;
  permissions @1 :List(Text);  # The new permission set (replaces the old one).
  rename @2 :Text;             # When non-empty, the role's new name.
}

struct CreateUser {
  name @0 :Text;
}

struct CreateServiceAccount {
  name @0 :Text;
  ownerCompany @1 :UInt64;  # Set at creation, never changed.
  description @2 :Text;
}

struct SetGrant {
  principal @0 :UInt64;
  company @1 :UInt64;
  permissions @2 :List(Text);  # Direct permissions (catalog names).
  roles @3 :List(UInt64);      # System roles or roles of `company`.
  expiresAt @4 :UInt64;        # Unix seconds: the grant ends then by itself; 0: never.
}

enum Channel {
  api @0;  # Programmatic access: service-account keys; users with password (and TOTP).
  ui @1;   # Interactive login: users only. Service accounts are always refused here.
}

struct CredentialCheck {
  credential @0 :Text;  # An API key, or a user's password when `user` is set. At most 1,024 bytes.
  user @1 :Text;        # A user's login name for a password check; empty for an API key.
  channel @2 :Channel;
  totp @3 :Text;        # The current TOTP code of a user with 2-FA; empty otherwise.
  source @4 :Text;      # The end client's address as the caller saw it, for rate limiting.
}

struct AccessCheck {
  credential @0 :Text;  # An API key.
  company @1 :UInt64;
  permission @2 :Text;
  source @3 :Text;
}

struct CreateKey {
  serviceAccount @0 :UInt64;
  expiresAt @1 :UInt64;  # Unix seconds; 0: never.
}

struct RotateKey {
  serviceAccount @0 :UInt64;
  graceSeconds @1 :UInt32;  # The account's other keys stay valid this long, then are revoked.
  expiresAt @2 :UInt64;     # Of the new key; 0: never.
}

struct SetPassword {
  user @0 :UInt64;
  password @1 :Text;  # 8 to 1,024 bytes of UTF-8. Stored only as an Argon2id hash.
}

struct SaCreate {
  name @0 :Text;
  description @1 :Text;
  permissions @2 :List(Text);  # Initial direct permissions in the active company.
  roles @3 :List(UInt64);      # Initial roles in the active company.
}

struct SaDescribe {
  serviceAccount @0 :UInt64;
  description @1 :Text;
}

struct ScopedGrant {
  principal @0 :UInt64;        # Referenced by id; a service account may be owned anywhere.
  permissions @1 :List(Text);  # Replaces its direct permissions in the active company.
  roles @2 :List(UInt64);      # System roles or roles of the active company.
  expiresAt @3 :UInt64;        # Unix seconds: the grant ends then by itself; 0: never.
}

struct SaShare {
  serviceAccount @0 :UInt64;  # Owned by the active company.
  company @1 :UInt64;         # The company offered the account (never the owner itself).
}

struct SaTransfer {
  serviceAccount @0 :UInt64;  # Owned by the active company.
  company @1 :UInt64;         # The company offered the ownership (never the owner itself).
  dropAccess @2 :Bool;        # At acceptance the owner's own grant goes too. Default: it stays,
                              # as an external company's grant (with an offer).
}

struct SaCeiling {
  serviceAccount @0 :UInt64;   # Owned by the active company.
  permissions @1 :List(Text);  # The ceiling: catalog names. Empty (without `clear`): nothing.
  clear @2 :Bool;              # Remove the ceiling (no limit); `permissions` must then be empty.
}

struct ScopedRole {
  name @0 :Text;
  permissions @1 :List(Text);
}

struct ScopedRoleEdit {
  role @0 :UInt64;
  permissions @1 :List(Text);
  rename @2 :Text;
}

struct AuditQuery {
  limit @0 :UInt32;   # Newest first; 0 means 100; at most 1,000.
  before @1 :UInt64;  # Only events with a sequence number below this; 0: from the newest.
}

struct SetPrincipalState {
  principal @0 :UInt64;
  state @1 :PrincipalState;
}

# ---------------------------------------------------------------------------------------------
# Responses

struct Response {
  id @0 :UInt64;  # The request's id; 0 when the request could not be decoded at all.

  union {
    error @1 :Error;
    pong @2 :Void;
    authorize @3 :Decision;
    authorizeBatch @4 :BatchDecision;
    permissions @5 :PermissionList;
    lookup @6 :LookupResult;
    companies @7 :CompanyList;
    catalog @8 :Catalog;
    roles @9 :RoleList;
    principal @10 :PrincipalInfo;
    grant @11 :GrantInfo;
    mutation @12 :MutationResult;  # Every successful provisioning request.
    credential @13 :CredentialResult;
    access @14 :AccessResult;
    keyIssued @15 :KeyIssued;      # createKey, resetKeys, rotateKey.
    keys @16 :KeyList;
    totpEnrolled @17 :TotpEnrolled;
    saCreated @18 :SaCreated;
    saView @19 :SaView;            # saList, saShow
    saCompanies @20 :CompanyList;
    audit @21 :AuditPage;
    hello @22 :Hello;
    stats @23 :Stats;
    backup @24 :BackupResult;
    impact @25 :Impact;            # A dry run's answer (Request.dryRun).
  }
}

struct Error {
  code @0 :ErrorCode;
  message @1 :Text;  # Names the offending field, value or limit. Never contains secrets.
  missing @2 :List(Text);  # For `escalation` and `forbidden`: the permissions the actor lacks;
                           # for `aboveCeiling`: the permissions over the ceiling.
}

enum ErrorCode {
  malformed @0;          # The frame is not a decodable Request (bad pointers, too deep, ...).
  unknownRequest @1;     # A union member this daemon does not know (newer client?).
  invalidArgument @2;    # A field's value is out of its domain; the message names the field.
  notFound @3;           # A referenced entity does not exist.
  alreadyExists @4;      # A name is taken.
  limitExceeded @5;      # A configured limit (batch size, catalog size, ...) was hit.
  accessDenied @6;       # The peer's access class may not make this request.
  failed @7;             # An internal failure (I/O, corruption); the request had no effect.
  overloaded @8;         # Temporarily unable to serve; retry later.
  conflict @9;           # The request contradicts the current state (e.g. role of another company).
  notOwner @10;          # Only the service account's owner company may do this; nothing changed.
  escalation @11;        # The actor would grant permissions it does not hold; see `missing`.
  forbidden @12;         # The actor lacks the permission the request needs in the active company.
  aboveCeiling @13;      # A service account would hold more outside its owner company than the
                         # owner's ceiling allows; `missing` lists the permissions over it.
  behind @14;            # Replicated mode: this replica has not applied the `minRevision` asked
                         # for within the wait; the message says how far it is. Retry, or ask
                         # another replica.
  unavailable @15;       # Replicated mode: the replicated log cannot take mutations now (NATS
                         # unreachable, no stream leader, this replica stopped following it);
                         # nothing was written. Checks are still answered.
  outcomeUnknown @16;    # Replicated mode: the mutation was sent to the log, and whether the log
                         # stored it was still unknown at the deadline. It is applied (once, on
                         # every replica) if it was; read it back before retrying.
}

# What a mutation would change: each (principal, company) whose effective permissions differ.
struct Impact {
  revision @0 :UInt64;              # The revision the request would have been committed at;
                                    # nothing was written.
  changes @1 :List(ImpactChange);   # Ascending by (principal, company); at most 1,000.
  total @2 :UInt32;                 # How many (principal, company) pairs would change in all.
}

struct ImpactChange {
  principal @0 :UInt64;
  company @1 :UInt64;
  gained @2 :List(Text);  # Permissions it would gain there, ascending by bit.
  lost @3 :List(Text);    # Permissions it would lose there (all of them when its access ends).
}

struct Decision {
  allowed @0 :Bool;
  reason @1 :DenyReason;  # `none` when allowed.
  revision @2 :UInt64;    # The store revision (LMDB transaction id) the answer was read at.
}

enum DenyReason {
  none @0;
  unknownPrincipal @1;
  unknownCompany @2;
  principalDisabled @3;
  unknownPermission @4;
  noAccess @5;            # The principal holds no grant in the company.
  notGranted @6;          # It holds a grant, but not this permission.
}

struct BatchDecision {
  revision @0 :UInt64;         # Every item was read from this one snapshot.
  items @1 :List(BatchItem);   # Same order as the request's list.
}

struct BatchItem {
  allowed @0 :Bool;
  reason @1 :DenyReason;
}

struct PermissionList {
  revision @0 :UInt64;
  found @1 :Bool;               # False: `reason` says why there is nothing to list.
  reason @2 :DenyReason;
  names @3 :List(Text);         # Sorted by bit index.
}

struct LookupResult {
  revision @0 :UInt64;
  found @1 :Bool;
  id @2 :UInt64;
}

struct CompanyList {
  revision @0 :UInt64;
  companies @1 :List(CompanyInfo);
  more @2 :Bool;             # More companies follow: ask again with `pageToken = nextPageToken`.
  nextPageToken @3 :UInt64;  # Opaque; 0 when this is the last page.
}

struct CompanyInfo {
  id @0 :UInt64;
  name @1 :Text;
}

struct Catalog {
  revision @0 :UInt64;
  names @1 :List(Text);  # Index i holds the name of bit firstBit + i.
  more @2 :Bool;             # More names follow (see CompanyList).
  nextPageToken @3 :UInt64;  # Opaque; 0 when this is the last page.
  firstBit @4 :UInt32;       # The bit of names[0] (0 on the first page).
}

struct RoleList {
  revision @0 :UInt64;
  roles @1 :List(RoleInfo);
  more @2 :Bool;             # More roles follow (see CompanyList).
  nextPageToken @3 :UInt64;  # Opaque; 0 when this is the last page.
}

struct RoleInfo {
  id @0 :UInt64;
  company @1 :UInt64;  # 0 for a system role.
  name @2 :Text;
  permissions @3 :List(Text);
}

enum PrincipalKind {
  user @0;
  serviceAccount @1;
}

enum PrincipalState {
  active @0;
  disabled @1;
}

struct PrincipalInfo {
  revision @0 :UInt64;
  found @1 :Bool;
  id @2 :UInt64;
  kind @3 :PrincipalKind;
  name @4 :Text;
  state @5 :PrincipalState;
  ownerCompany @6 :UInt64;  # Service accounts only; 0 for users.
  description @7 :Text;
  companies @8 :List(UInt64);  # Companies where it holds a grant.
}

struct GrantInfo {
  revision @0 :UInt64;
  found @1 :Bool;
  permissions @2 :List(Text);  # Direct permissions.
  roles @3 :List(UInt64);
  expiresAt @4 :UInt64;        # Unix seconds; 0: never.
}

struct MutationResult {
  revision @0 :UInt64;  # The committed (durable) revision that contains the change.
  id @1 :UInt64;        # The created entity's id, for create requests; else 0.
  count @2 :UInt32;     # For definePermissions: how many names were new; for saAcceptOwnership:
                        # how many keys were revoked.
}

enum CredentialRefusal {
  none @0;
  badCredential @1;       # Unknown key, wrong secret or password, mistyped key, unknown user.
  serviceAccountNoUi @2;  # A service account on the UI channel, even with a correct key.
  totpRequired @3;        # The user has 2-FA and no code was given.
  totpInvalid @4;
  totpReplayed @5;        # The code's time step was already used.
  disabled @6;            # The principal is disabled.
  keyExpired @7;
  keyRevoked @8;
  rateLimited @9;         # Too many failures for the principal or the source; see retryAfter.
}

struct CredentialResult {
  accepted @0 :Bool;
  refusal @1 :CredentialRefusal;      # `none` when accepted.
  principal @2 :UInt64;               # When accepted.
  kind @3 :PrincipalKind;
  keyId @4 :UInt64;                   # The key used, for API keys.
  retryAfterSeconds @5 :UInt32;       # For `rateLimited`.
  revision @6 :UInt64;
}

struct AccessResult {
  allowed @0 :Bool;
  credential @1 :CredentialRefusal;   # `none` when the key was accepted.
  reason @2 :DenyReason;              # When the key was accepted but the check denied.
  principal @3 :UInt64;
  retryAfterSeconds @4 :UInt32;
  revision @5 :UInt64;
}

struct KeyIssued {
  revision @0 :UInt64;
  keyId @1 :UInt64;
  secret @2 :Text;        # The whole key. Shown once; gatehouse keeps only a keyed hash.
  expiresAt @3 :UInt64;
  retired @4 :UInt32;     # Keys revoked (reset) or set to retire (rotate).
}

enum KeyState {
  active @0;
  retiring @1;  # Rotated out; refused as revoked after `revokedAt`.
  revoked @2;
  expired @3;
}

struct KeyInfo {
  id @0 :UInt64;
  state @1 :KeyState;
  createdAt @2 :UInt64;   # Unix seconds.
  expiresAt @3 :UInt64;   # 0: never.
  revokedAt @4 :UInt64;   # 0: not revoked. In the future for a retiring key.
  lastUsedAt @5 :UInt64;  # 0: never. Coarse (flushed about once a minute).
}

struct KeyList {
  revision @0 :UInt64;
  keys @1 :List(KeyInfo);
}

struct TotpEnrolled {
  revision @0 :UInt64;
  uri @1 :Text;  # otpauth://totp/...: shown once, for the user's authenticator app.
}

struct SaCreated {
  revision @0 :UInt64;
  id @1 :UInt64;
  keyId @2 :UInt64;
  secret @3 :Text;  # The first key. Shown once.
}

enum Relation {
  owned @0;     # Owned by the viewing company.
  external @1;  # Owned elsewhere, granted access to the viewing company.
}

struct SaActions {
  editDescription @0 :Bool;
  resetCredentials @1 :Bool;
  delete @2 :Bool;
  editPermissions @3 :Bool;
  removeAccess @4 :Bool;
  share @5 :Bool;  # Offer it to other companies or withdraw offers (saShare, saUnshare).
  transfer @6 :Bool;         # Offer its ownership, or withdraw that offer (saOfferOwnership,
                             # saCancelTransfer).
  acceptOwnership @7 :Bool;  # Its ownership is offered here: accept it or decline
                             # (saAcceptOwnership, saCancelTransfer).
}

struct SaRow {
  id @0 :UInt64;
  name @1 :Text;
  description @2 :Text;
  ownerCompany @3 :UInt64;
  ownerCompanyName @4 :Text;
  relation @5 :Relation;
  state @6 :PrincipalState;
  permissions @7 :List(Text);  # Direct permissions in the viewing company.
  roles @8 :List(RoleInfo);    # Roles held in the viewing company (with their permissions).
  keys @9 :List(KeyInfo);      # Owned rows only; always empty for an external row.
  lastUsedAt @10 :UInt64;      # Last checkAccess in the viewing company (coarse); 0: never.
  actions @11 :SaActions;      # What this actor may do to this row.
  hasAccess @12 :Bool;         # It holds a grant in the viewing company.
  offered @13 :Bool;           # External rows: the owner offers it to the viewing company. An
                               # external row with `offered` and not `hasAccess` is "offered, not
                               # granted": the viewing company may grant it access (saGrant).
  offeredTo @14 :List(CompanyInfo);  # Owned rows only: the companies it is offered to,
                                     # ascending by id; always empty for an external row.
  hasCeiling @15 :Bool;        # Its owner set a ceiling: the most any company other than the
                               # owner may grant it. Shown on owned and external rows alike.
  ceiling @16 :List(Text);     # With `hasCeiling`: the ceiling's permissions (may be empty:
                               # nothing may be granted outside the owner), ascending by bit.
  expiresAt @17 :UInt64;       # With `hasAccess`: when its grant in the viewing company ends
                               # (unix seconds); 0: never.
  ownershipOfferedTo @18 :CompanyInfo;  # Owned rows: the company its ownership is offered to;
                                        # id 0: no pending offer. Always 0 on an external row.
  ownershipOffered @19 :Bool;  # External rows: its ownership is offered to the viewing company.
}

struct SaView {
  revision @0 :UInt64;
  company @1 :UInt64;
  rows @2 :List(SaRow);
  more @3 :Bool;             # saList: more rows follow (see CompanyList).
  nextPageToken @4 :UInt64;  # Opaque; 0 when this is the last page.
}

struct AuditEvent {
  sequence @0 :UInt64;
  time @1 :UInt64;           # Unix seconds.
  actor @2 :UInt64;          # 0: system context.
  activeCompany @3 :UInt64;
  peerUid @4 :UInt32;
  peerPid @5 :Int32;
  operation @6 :Text;        # The request's name, e.g. "saDelete".
  target @7 :Text;           # What it acted on, e.g. "serviceAccount 7".
  outcome @8 :Text;          # "ok", or the error code and message.
}

struct AuditPage {
  revision @0 :UInt64;
  events @1 :List(AuditEvent);  # Newest first.
}

struct Hello {
  version @0 :Text;            # gatehoused's version, e.g. "0.9.0".
  revision @1 :UInt64;         # The store revision the answer was read at.
  uptimeSeconds @2 :UInt64;    # Since the daemon started.
  writerBacklogMs @3 :UInt64;  # How long the oldest unanswered mutation has waited; 0: none.
}

# The answer to `stats`: metric families in the shape of the Prometheus data model, so that a
# client renders them without knowing each one (docs/operations.md lists them).
struct Stats {
  metrics @0 :List(Metric);
}

struct Metric {
  name @0 :Text;  # e.g. "gatehouse_checks_total"
  help @1 :Text;
  type @2 :MetricType;
  samples @3 :List(Sample);
}

enum MetricType {
  counter @0;
  gauge @1;
  histogram @2;  # Samples with suffix "_bucket" (label "le"), "_sum" and "_count".
}

struct Sample {
  suffix @0 :Text;  # Appended to the family's name: "" or, for histograms, "_bucket" etc.
  labels @1 :List(Label);
  value @2 :Float64;
}

struct Label {
  name @0 :Text;
  value @1 :Text;
}

# The answer to `backup`: the copy in the descriptor is complete and flushed (fdatasync).
struct BackupResult {
  revision @0 :UInt64;       # The store revision the copy holds.
  bytes @1 :UInt64;          # Bytes written.
  schemaVersion @2 :UInt32;  # The store's on-disk schema version.
}
