// The client's values: what each request takes and answers, as plain objects. Names follow
// schema/gatehouse.capnp (documented field by field there and in docs/protocol.md); enums are
// their schema names as strings. Ids, revisions and times are UInt64 on the wire and bigint here;
// inputs also take a number (a safe non-negative integer).

/** An id, revision or Unix time as the caller may give it. */
export type Id = bigint | number;

// Enum names in wire order: index i is the enum's value i. A value this client does not know (a
// newer daemon) reads as "unknown".
export const ERROR_CODES = [
  "malformed", "unknownRequest", "invalidArgument", "notFound", "alreadyExists", "limitExceeded",
  "accessDenied", "failed", "overloaded", "conflict", "notOwner", "escalation", "forbidden",
  "aboveCeiling", "behind", "unavailable", "outcomeUnknown",
] as const;
export const DENY_REASONS = [
  "none", "unknownPrincipal", "unknownCompany", "principalDisabled", "unknownPermission",
  "noAccess", "notGranted",
] as const;
export const CREDENTIAL_REFUSALS = [
  "none", "badCredential", "serviceAccountNoUi", "totpRequired", "totpInvalid", "totpReplayed",
  "disabled", "keyExpired", "keyRevoked", "rateLimited",
] as const;
export const ENTITY_KINDS = ["company", "principal", "role", "permission"] as const;
export const CHANNELS = ["api", "ui"] as const;
export const PRINCIPAL_KINDS = ["user", "serviceAccount"] as const;
export const PRINCIPAL_STATES = ["active", "disabled"] as const;
export const KEY_STATES = ["active", "retiring", "revoked", "expired"] as const;
export const RELATIONS = ["owned", "external"] as const;
export const METRIC_TYPES = ["counter", "gauge", "histogram"] as const;

export type ErrorCode = (typeof ERROR_CODES)[number] | "unknown";
export type DenyReason = (typeof DENY_REASONS)[number] | "unknown";
export type CredentialRefusal = (typeof CREDENTIAL_REFUSALS)[number] | "unknown";
export type EntityKind = (typeof ENTITY_KINDS)[number];
export type Channel = (typeof CHANNELS)[number];
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number] | "unknown";
export type PrincipalState = (typeof PRINCIPAL_STATES)[number];
export type KeyState = (typeof KEY_STATES)[number] | "unknown";
export type Relation = (typeof RELATIONS)[number] | "unknown";
export type MetricType = (typeof METRIC_TYPES)[number] | "unknown";

// ---- Requests ----

/** Who acts, and where: the envelope's `actor` and `activeCompany` of every actor request. */
export interface ActorContext {
  actor: Id;
  company: Id;
}

export interface AuthorizeQuery {
  principal: Id;
  company: Id;
  permission: string;
}

export interface PrincipalInCompany {
  principal: Id;
  company: Id;
}

/** List requests answer a page: at most `pageSize` items (0: 1,000; at most 10,000) from
 *  `pageToken` (the previous page's `nextPageToken`; 0: the start). */
export interface PageOptions {
  pageSize?: number;
  pageToken?: Id;
}

export interface LookupQuery {
  kind: EntityKind;
  name: string;
  /** Only for roles: 0 (the default) looks up a system role, otherwise that company's role. */
  company?: Id;
}

export interface CredentialQuery {
  /** An API key, or a user's password when `user` is set. */
  credential: string;
  /** A user's login name for a password check; empty for an API key. */
  user?: string;
  channel?: Channel; // default "api"
  /** The current TOTP code of a user with 2-FA. */
  totp?: string;
  /** The end client's address as the caller saw it, for rate limiting. */
  source?: string;
}

/** A grant in the active company (saGrant, userGrant): it replaces the principal's direct
 *  permissions, roles and expiry there. */
export interface ScopedGrantQuery {
  principal: Id;
  permissions?: readonly string[];
  /** System roles or roles of the grant's company. */
  roles?: readonly Id[];
  /** Unix seconds: the grant ends then by itself; 0 or absent: never. Must be in the future. */
  expiresAt?: Id;
}

/** A grant in any company (setGrant, the system context). */
export interface GrantQuery extends ScopedGrantQuery {
  company: Id;
}

export interface AccessQuery {
  credential: string;
  company: Id;
  permission: string;
  source?: string;
}

// ---- Answers ----

export interface Decision {
  allowed: boolean;
  reason: DenyReason; // "none" when allowed
  revision: bigint;
}

export interface BatchDecision {
  revision: bigint; // every item was read from this one snapshot
  items: { allowed: boolean; reason: DenyReason }[]; // in request order
}

export interface PermissionList {
  revision: bigint;
  found: boolean;
  reason: DenyReason; // why there is nothing to list, when not found
  names: string[];
}

export interface LookupResult {
  revision: bigint;
  found: boolean;
  id: bigint;
}

export interface Page {
  revision: bigint;
  more: boolean;
  nextPageToken: bigint; // 0n on the last page
}

export interface CompanyInfo {
  id: bigint;
  name: string;
}

export interface CompanyPage extends Page {
  companies: CompanyInfo[];
}

export interface CatalogPage extends Page {
  names: string[]; // names[i] is the name of bit firstBit + i
  firstBit: number;
}

export interface RoleInfo {
  id: bigint;
  company: bigint; // 0n for a system role
  name: string;
  permissions: string[];
}

export interface RolePage extends Page {
  roles: RoleInfo[];
}

export interface PrincipalInfo {
  revision: bigint;
  found: boolean;
  id: bigint;
  kind: PrincipalKind;
  name: string;
  state: PrincipalState | "unknown";
  ownerCompany: bigint; // service accounts only; 0n for users
  description: string;
  companies: bigint[]; // where it holds a grant
}

export interface GrantInfo {
  revision: bigint;
  found: boolean; // false also once the grant's expiry has passed
  permissions: string[];
  roles: bigint[];
  expiresAt: bigint; // Unix seconds when the grant ends; 0n: never
}

/** What a previewed mutation would change (a dry run's answer): each (principal, company) whose
 *  effective permissions would differ. Nothing was written. */
export interface Impact {
  revision: bigint; // the revision the request would have been committed at
  changes: ImpactChange[]; // ascending by (principal, company); at most 1,000
  total: number; // how many (principal, company) pairs would change in all
}

export interface ImpactChange {
  principal: bigint;
  company: bigint;
  gained: string[]; // permissions it would gain there, ascending by bit
  lost: string[]; // permissions it would lose there (all of them when its access would end)
}

/** A committed (durable) change. */
export interface MutationResult {
  revision: bigint;
  id: bigint; // the created entity's id, for create requests; else 0n
  count: number; // definePermissions: how many names were new; saAcceptOwnership: keys revoked
}

export interface CredentialResult {
  accepted: boolean;
  refusal: CredentialRefusal; // "none" when accepted
  principal: bigint;
  kind: PrincipalKind;
  keyId: bigint;
  retryAfterSeconds: number; // for "rateLimited"
  revision: bigint;
}

export interface AccessResult {
  allowed: boolean;
  credential: CredentialRefusal; // "none" when the key was accepted
  reason: DenyReason; // when the key was accepted but the check denied
  principal: bigint;
  retryAfterSeconds: number;
  revision: bigint;
}

export interface KeyIssued {
  revision: bigint;
  keyId: bigint;
  secret: string; // the whole key: shown once, never again
  expiresAt: bigint;
  retired: number; // keys revoked (reset) or set to retire (rotate)
}

export interface KeyInfo {
  id: bigint;
  state: KeyState;
  createdAt: bigint;
  expiresAt: bigint; // 0n: never
  revokedAt: bigint; // 0n: not revoked; in the future for a retiring key
  lastUsedAt: bigint; // 0n: never
}

export interface KeyList {
  revision: bigint;
  keys: KeyInfo[];
}

export interface TotpEnrolled {
  revision: bigint;
  uri: string; // otpauth://totp/...: shown once
}

export interface SaCreated {
  revision: bigint;
  id: bigint;
  keyId: bigint;
  secret: string; // the first key: shown once
}

export interface SaActions {
  editDescription: boolean;
  resetCredentials: boolean;
  delete: boolean;
  editPermissions: boolean;
  removeAccess: boolean;
  share: boolean;
  transfer: boolean; // offer its ownership, or withdraw that offer (owned rows)
  acceptOwnership: boolean; // its ownership is offered here: accept or decline (external rows)
}

export interface SaRow {
  id: bigint;
  name: string;
  description: string;
  ownerCompany: bigint;
  ownerCompanyName: string;
  relation: Relation;
  state: PrincipalState | "unknown";
  permissions: string[]; // direct permissions in the viewing company
  roles: RoleInfo[]; // roles held in the viewing company
  keys: KeyInfo[]; // owned rows only
  lastUsedAt: bigint;
  actions: SaActions; // what this actor may do to this row
  hasAccess: boolean;
  expiresAt: bigint; // with hasAccess: when the grant in the viewing company ends; 0n: never
  offered: boolean;
  offeredTo: CompanyInfo[];
  hasCeiling: boolean;
  ceiling: string[];
  /** Owned rows: the company its ownership is offered to; null when none is pending (and always
   *  on an external row). */
  ownershipOfferedTo: CompanyInfo | null;
  /** External rows: its ownership is offered to the viewing company. */
  ownershipOffered: boolean;
}

export interface SaView extends Page {
  company: bigint;
  rows: SaRow[];
}

export interface AuditEvent {
  sequence: bigint;
  time: bigint;
  actor: bigint; // 0n: system context
  activeCompany: bigint;
  peerUid: number;
  peerPid: number;
  operation: string;
  target: string;
  outcome: string; // "ok", or the error code and message
}

export interface AuditPage {
  revision: bigint;
  events: AuditEvent[]; // newest first
}

export interface Hello {
  version: string;
  revision: bigint;
  uptimeSeconds: bigint;
  writerBacklogMs: bigint;
}

export interface Sample {
  suffix: string;
  labels: { name: string; value: string }[];
  value: number;
}

export interface Metric {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}
