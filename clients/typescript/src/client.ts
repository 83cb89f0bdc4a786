// The typed client: one method per request of schema/gatehouse.capnp, each resolving with a plain
// object (types.ts) or rejecting with a GatehouseError (the daemon's error answer) or a
// GatehouseConnectionError (no answer). A deny is an answer: `authorize` resolves
// `{ allowed: false, reason }`.
//
// Requests in three groups, as in docs/protocol.md:
//  - checks and queries (access class `check`): authorize, authorizeBatch, listPermissions, ...;
//  - provisioning and credential management in the system context (access class `admin`);
//  - management by an actor: the first argument is `{ actor, company }`, the envelope's `actor`
//    and `activeCompany`; the daemon enforces the actor's rights there (docs/service-accounts.md).
// The mutations that can change effective permissions take `{ dryRun: true }` (ChangeOptions) and
// then resolve with the Impact the daemon previews instead of a MutationResult (docs/protocol.md,
// "Dry runs"); their result type follows the option (ChangeResult).
// `backup` and `acceptDescriptors` are not offered: `backup` takes the file it writes as a
// descriptor passed with SCM_RIGHTS, which Node's sockets cannot send. Use `gatehouse backup`.
import type * as $ from "capnp-es";

import { Answer, Connection, encodeRequest, type ConnectionEvents, type ConnectionOptions } from "./connection.js";
import { GatehouseConnectionError, GatehouseError } from "./errors.js";
import * as wire from "./gen/gatehouse.js";
import { encodeAuthorize, readDecision, readEnvelope } from "./hot_path.js";
import {
  CHANNELS,
  CREDENTIAL_REFUSALS,
  DENY_REASONS,
  ENTITY_KINDS,
  ERROR_CODES,
  KEY_STATES,
  METRIC_TYPES,
  PRINCIPAL_KINDS,
  PRINCIPAL_STATES,
  RELATIONS,
  type AccessQuery,
  type AccessResult,
  type ActorContext,
  type AuditPage,
  type AuthorizeQuery,
  type BatchDecision,
  type CatalogPage,
  type CompanyInfo,
  type CompanyPage,
  type CredentialQuery,
  type CredentialResult,
  type Decision,
  type GrantInfo,
  type GrantQuery,
  type Hello,
  type Id,
  type Impact,
  type KeyInfo,
  type KeyIssued,
  type KeyList,
  type LookupQuery,
  type LookupResult,
  type Metric,
  type MutationResult,
  type PageOptions,
  type PermissionList,
  type PrincipalInCompany,
  type PrincipalInfo,
  type PrincipalState,
  type RoleInfo,
  type RolePage,
  type SaCreated,
  type SaRow,
  type SaView,
  type ScopedGrantQuery,
  type TotpEnrolled,
} from "./types.js";

export interface ClientOptions extends ConnectionOptions {}

/** Per-call options. */
export interface CallOptions {
  /** Overrides the client's `timeoutMs` for this call; 0 waits for ever. */
  timeoutMs?: number;
}

/** The options of a mutation that can change effective permissions, which may be previewed
 *  (docs/protocol.md, "Dry runs"). */
export interface ChangeOptions extends CallOptions {
  /** Send it as a dry run: the daemon applies it with the same checks, rolls it back and answers
   *  what it would change; the call resolves with that `Impact` instead of a `MutationResult`. */
  dryRun?: boolean;
}

/** What a previewable mutation resolves with: an `Impact` for `{ dryRun: true }`, a
 *  `MutationResult` without `dryRun` or with `dryRun: false`, and either when `dryRun` is a
 *  `boolean` not known until run time. */
export type ChangeResult<O extends ChangeOptions | undefined> = O extends { dryRun: true }
  ? Impact
  : O extends { dryRun: false } | undefined
    ? MutationResult
    : "dryRun" extends keyof O
      ? MutationResult | Impact
      : MutationResult;

const MAX_U64 = 0xffff_ffff_ffff_ffffn;

// ---- input checks: a bad value is refused before anything is sent ----

function u64(value: Id | undefined, field: string): bigint {
  if (value === undefined) return 0n;
  if (typeof value === "bigint") {
    if (value < 0n || value > MAX_U64) throw new RangeError(`${field}: ${value} is not a UInt64`);
    return value;
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${field}: ${value} is not a non-negative safe integer (use a bigint)`);
  }
  return BigInt(value);
}

function u32(value: number | undefined, field: string): number {
  if (value === undefined) return 0;
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`${field}: ${value} is not a UInt32`);
  }
  return value;
}

function text(value: string | undefined, field: string): string {
  if (value === undefined) return "";
  if (typeof value !== "string") throw new TypeError(`${field}: expected a string`);
  return value;
}

function ordinal<T extends string>(names: readonly T[], value: T, field: string): number {
  const i = names.indexOf(value);
  if (i < 0) throw new RangeError(`${field}: '${value}' is not one of ${names.join(", ")}`);
  return i;
}

function texts(init: (length: number) => $.List<string>, values: readonly string[] | undefined, field: string): void {
  if (values === undefined || values.length === 0) return;
  const list = init(values.length);
  values.forEach((v, i) => list.set(i, text(v, `${field}[${i}]`)));
}

function ids(init: (length: number) => $.List<bigint>, values: readonly Id[] | undefined, field: string): void {
  if (values === undefined || values.length === 0) return;
  const list = init(values.length);
  values.forEach((v, i) => list.set(i, u64(v, `${field}[${i}]`)));
}

// ---- shared request shapes: checked now, written into the struct the request initialises ----

function principalInCompany(query: PrincipalInCompany): (q: { principal: bigint; company: bigint }) => void {
  const principal = u64(query.principal, "principal");
  const company = u64(query.company, "company");
  return (q) => {
    q.principal = principal;
    q.company = company;
  };
}

function keyQuery(query: { serviceAccount: Id; expiresAt?: Id }): (q: wire.CreateKey) => void {
  const account = u64(query.serviceAccount, "serviceAccount");
  const expiresAt = u64(query.expiresAt, "expiresAt");
  return (q) => {
    q.serviceAccount = account;
    q.expiresAt = expiresAt;
  };
}

function rotateQuery(query: { serviceAccount: Id; graceSeconds?: number; expiresAt?: Id }): (q: wire.RotateKey) => void {
  const account = u64(query.serviceAccount, "serviceAccount");
  const grace = u32(query.graceSeconds, "graceSeconds");
  const expiresAt = u64(query.expiresAt, "expiresAt");
  return (q) => {
    q.serviceAccount = account;
    q.graceSeconds = grace;
    q.expiresAt = expiresAt;
  };
}

function stateQuery(query: { principal: Id; state: PrincipalState }): (q: wire.SetPrincipalState) => void {
  const principal = u64(query.principal, "principal");
  const state = ordinal(PRINCIPAL_STATES, query.state, "state") as wire.PrincipalState;
  return (q) => {
    q.principal = principal;
    q.state = state;
  };
}

// SaShare (saShare, saUnshare).
function shareQuery(query: { serviceAccount: Id; company: Id }): (q: wire.SaShare) => void {
  const account = u64(query.serviceAccount, "serviceAccount");
  const company = u64(query.company, "company");
  return (q) => {
    q.serviceAccount = account;
    q.company = company;
  };
}

// SetGrant without its company: ScopedGrant (saGrant, userGrant) and the rest of SetGrant.
function grantQuery(query: ScopedGrantQuery): (q: wire.ScopedGrant | wire.SetGrant) => void {
  const principal = u64(query.principal, "principal");
  const expiresAt = u64(query.expiresAt, "expiresAt");
  return (q) => {
    q.principal = principal;
    q.expiresAt = expiresAt;
    texts((n) => q._initPermissions(n), query.permissions, "permissions");
    ids((n) => q._initRoles(n), query.roles, "roles");
  };
}

// UpdateRole (system context) and ScopedRoleEdit (an actor's) have the same fields.
function roleEditQuery(query: { role: Id; permissions?: readonly string[]; rename?: string }): (q: wire.UpdateRole | wire.ScopedRoleEdit) => void {
  const role = u64(query.role, "role");
  const rename = text(query.rename, "rename");
  return (q) => {
    q.role = role;
    q.rename = rename;
    texts((n) => q._initPermissions(n), query.permissions, "permissions");
  };
}

// ---- answers to plain objects ----

function named<T extends string>(names: readonly T[], value: number): T | "unknown" {
  return names[value] ?? "unknown";
}

const denyReason = (v: number) => named(DENY_REASONS, v);
const refusal = (v: number) => named(CREDENTIAL_REFUSALS, v);
const principalState = (v: number) => named(PRINCIPAL_STATES, v);
const strings = (list: $.List<string>): string[] => list.toArray();
const bigints = (list: $.List<bigint>): bigint[] => list.toArray();

function page(r: { revision: bigint; more: boolean; nextPageToken: bigint }) {
  return { revision: r.revision, more: r.more, nextPageToken: r.nextPageToken };
}

const company = (c: wire.CompanyInfo): CompanyInfo => ({ id: c.id, name: c.name });

function companyPage(r: wire.CompanyList): CompanyPage {
  return { ...page(r), companies: r.companies.map(company) };
}

function role(r: wire.RoleInfo): RoleInfo {
  return { id: r.id, company: r.company, name: r.name, permissions: strings(r.permissions) };
}

function key(k: wire.KeyInfo): KeyInfo {
  return {
    id: k.id,
    state: named(KEY_STATES, k.state),
    createdAt: k.createdAt,
    expiresAt: k.expiresAt,
    revokedAt: k.revokedAt,
    lastUsedAt: k.lastUsedAt,
  };
}

function mutation(m: wire.MutationResult): MutationResult {
  return { revision: m.revision, id: m.id, count: m.count };
}

function impact(i: wire.Impact): Impact {
  return {
    revision: i.revision,
    changes: i.changes.map((c) => ({
      principal: c.principal,
      company: c.company,
      gained: strings(c.gained),
      lost: strings(c.lost),
    })),
    total: i.total,
  };
}

function keyIssued(k: wire.KeyIssued): KeyIssued {
  return { revision: k.revision, keyId: k.keyId, secret: k.secret, expiresAt: k.expiresAt, retired: k.retired };
}

function saRow(r: wire.SaRow): SaRow {
  const a = r.actions;
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    ownerCompany: r.ownerCompany,
    ownerCompanyName: r.ownerCompanyName,
    relation: named(RELATIONS, r.relation),
    state: principalState(r.state),
    permissions: strings(r.permissions),
    roles: r.roles.map(role),
    keys: r.keys.map(key),
    lastUsedAt: r.lastUsedAt,
    actions: {
      editDescription: a.editDescription,
      resetCredentials: a.resetCredentials,
      delete: a.delete,
      editPermissions: a.editPermissions,
      removeAccess: a.removeAccess,
      share: a.share,
      transfer: a.transfer,
      acceptOwnership: a.acceptOwnership,
    },
    hasAccess: r.hasAccess,
    expiresAt: r.expiresAt,
    offered: r.offered,
    offeredTo: r.offeredTo.map(company),
    hasCeiling: r.hasCeiling,
    ceiling: strings(r.ceiling),
    ownershipOfferedTo: r.ownershipOfferedTo.id === 0n ? null : company(r.ownershipOfferedTo),
    ownershipOffered: r.ownershipOffered,
  };
}

function saView(v: wire.SaView): SaView {
  return { ...page(v), company: v.company, rows: v.rows.map(saRow) };
}

const WHICH_NAMES = new Map<number, string>(
  Object.entries(wire.Response_Which).map(([name, value]) => [value, name]),
);

function errorOf(answer: Answer): GatehouseError {
  const e = answer.root.error;
  return new GatehouseError(named(ERROR_CODES, e.code), e.message, strings(e.missing), BigInt(answer.id));
}

/** The client. Make one with `connect()`; share it: calls on it are pipelined. */
export class Client {
  readonly #connection: Connection;

  private constructor(connection: Connection) {
    this.#connection = connection;
  }

  /** Connects to gatehoused. Rejects with a GatehouseConnectionError (`connect`) naming the socket
   *  (and, when permission is denied, the group to join) when it cannot. */
  static async connect(options: ClientOptions = {}): Promise<Client> {
    return new Client(await Connection.open(options));
  }

  /** The socket's path. */
  get socket(): string {
    return this.#connection.socketPath;
  }

  /** Calls sent or queued and not yet answered. */
  get inFlight(): number {
    return this.#connection.inFlight;
  }

  /** False while requests wait in the client's queue (socket full, or reconnecting). */
  get writable(): boolean {
    return this.#connection.writable;
  }

  /** Resolves when no request waits in the client's queue. */
  drained(): Promise<void> {
    return this.#connection.drained();
  }

  /** `disconnected` (error) when the connection breaks; `reconnected` when a new one is open. */
  on<E extends keyof ConnectionEvents>(event: E, listener: (...args: ConnectionEvents[E]) => void): this {
    this.#connection.on(event, listener as never);
    return this;
  }

  off<E extends keyof ConnectionEvents>(event: E, listener: (...args: ConnectionEvents[E]) => void): this {
    this.#connection.off(event, listener as never);
    return this;
  }

  /** Waits for every call made so far, then closes. No call may be made after. */
  close(): Promise<void> {
    return this.#connection.close();
  }

  /** Closes at once; calls not yet answered fail with `closed`. */
  destroy(): void {
    this.#connection.destroy();
  }

  /**
   * The escape hatch under the typed methods: sends a request built by `fill` (the id is set by
   * the client) and resolves with the raw answer, an error answer included. For requests newer
   * than this client; the typed methods are the API.
   */
  async request(fill: (request: wire.Request) => void, options?: CallOptions): Promise<wire.Response> {
    return (await this.#connection.call("request", encodeRequest(fill), options?.timeoutMs)).root;
  }

  #ask<T>(
    what: string,
    fill: (request: wire.Request) => void,
    expected: number,
    read: (answer: wire.Response) => T,
    options?: CallOptions,
  ): Promise<T> {
    return this.#send(what, encodeRequest(fill), expected, (a) => read(a.root), options);
  }

  async #send<T>(
    what: string,
    encode: (id: number) => Uint8Array,
    expected: number,
    read: (answer: Answer) => T,
    options?: CallOptions,
  ): Promise<T> {
    const answer = await this.#connection.call(what, encode, options?.timeoutMs);
    const which = answer.which;
    if (which === expected) return read(answer);
    if (which === wire.Response_Which.ERROR) throw errorOf(answer);
    throw new GatehouseConnectionError(
      "protocol",
      `${what}: gatehoused answered ${WHICH_NAMES.get(which) ?? which} where ${WHICH_NAMES.get(expected)} was expected`,
      true,
    );
  }

  #askActor<T>(
    what: string,
    as: ActorContext,
    fill: (request: wire.Request) => void,
    expected: number,
    read: (answer: wire.Response) => T,
    options?: CallOptions,
  ): Promise<T> {
    const actor = u64(as.actor, "actor");
    const activeCompany = u64(as.company, "company");
    return this.#ask(
      what,
      (r) => {
        r.actor = actor;
        r.activeCompany = activeCompany;
        fill(r);
      },
      expected,
      read,
      options,
    );
  }

  #mutation(what: string, fill: (request: wire.Request) => void, options?: CallOptions): Promise<MutationResult> {
    return this.#ask(what, fill, wire.Response_Which.MUTATION, (a) => mutation(a.mutation), options);
  }

  #actorMutation(
    what: string,
    as: ActorContext,
    fill: (request: wire.Request) => void,
    options?: CallOptions,
  ): Promise<MutationResult> {
    return this.#askActor(what, as, fill, wire.Response_Which.MUTATION, (a) => mutation(a.mutation), options);
  }

  // A mutation that may be previewed: committed (`mutation`), or with `dryRun` previewed
  // (`impact`); in the system context, or an actor's with `as`.
  #change<O extends ChangeOptions | undefined>(
    what: string,
    fill: (request: wire.Request) => void,
    options: O,
    as?: ActorContext,
  ): Promise<ChangeResult<O>> {
    const dryRun = options?.dryRun === true;
    const send = (r: wire.Request) => {
      fill(r);
      r.dryRun = dryRun;
    };
    const expected = dryRun ? wire.Response_Which.IMPACT : wire.Response_Which.MUTATION;
    const read = (a: wire.Response): MutationResult | Impact => (dryRun ? impact(a.impact) : mutation(a.mutation));
    const answer = as === undefined
      ? this.#ask(what, send, expected, read, options)
      : this.#askActor(what, as, send, expected, read, options);
    return answer as Promise<ChangeResult<O>>;
  }

  // A request answered `keyIssued`: in the system context, or an actor's with `as`.
  #keyIssued(what: string, fill: (request: wire.Request) => void, options?: CallOptions, as?: ActorContext): Promise<KeyIssued> {
    const read = (a: wire.Response) => keyIssued(a.keyIssued);
    if (as === undefined) return this.#ask(what, fill, wire.Response_Which.KEY_ISSUED, read, options);
    return this.#askActor(what, as, fill, wire.Response_Which.KEY_ISSUED, read, options);
  }

  // ---------------------------------------------------------------------------------------------
  // Checks and queries (access class `check`)

  /** Liveness: resolves when the daemon answers `pong`. */
  async ping(options?: CallOptions): Promise<void> {
    await this.#ask("ping", (r) => (r.ping = true), wire.Response_Which.PONG, () => undefined, options);
  }

  /** The daemon's version, revision, uptime and writer backlog. */
  async hello(options?: CallOptions): Promise<Hello> {
    return this.#ask("hello", (r) => (r.hello = true), wire.Response_Which.HELLO, (a) => {
      const h = a.hello;
      return { version: h.version, revision: h.revision, uptimeSeconds: h.uptimeSeconds, writerBacklogMs: h.writerBacklogMs };
    }, options);
  }

  /** The daemon's counters and gauges, in the Prometheus data model. */
  async stats(options?: CallOptions): Promise<Metric[]> {
    return this.#ask("stats", (r) => (r.stats = true), wire.Response_Which.STATS, (a) =>
      a.stats.metrics.map((m) => ({
        name: m.name,
        help: m.help,
        type: named(METRIC_TYPES, m.type),
        samples: m.samples.map((s) => ({
          suffix: s.suffix,
          labels: s.labels.map((l) => ({ name: l.name, value: l.value })),
          value: s.value,
        })),
      })),
    options);
  }

  /** May `principal` do `permission` in `company`? A deny is an answer, with its reason. */
  async authorize(query: AuthorizeQuery, options?: CallOptions): Promise<Decision> {
    const principal = u64(query.principal, "principal");
    const company = u64(query.company, "company");
    const permission = text(query.permission, "permission");
    // The hot path: see hot_path.ts.
    return this.#send(
      "authorize",
      (id) => encodeAuthorize(id, principal, company, permission),
      wire.Response_Which.AUTHORIZE,
      (a) => {
        const envelope = readEnvelope(a.frame);
        const fast = envelope === null ? null : readDecision(a.frame, envelope);
        if (fast !== null) return { allowed: fast.allowed, reason: denyReason(fast.reason), revision: fast.revision };
        const d = a.root.authorize;
        return { allowed: d.allowed, reason: denyReason(d.reason), revision: d.revision };
      },
      options,
    );
  }

  /** Up to `limits.max_batch` (default 1,024) checks answered from one snapshot, in order. */
  async authorizeBatch(queries: readonly AuthorizeQuery[], options?: CallOptions): Promise<BatchDecision> {
    const items = queries.map((q, i) => ({
      principal: u64(q.principal, `queries[${i}].principal`),
      company: u64(q.company, `queries[${i}].company`),
      permission: text(q.permission, `queries[${i}].permission`),
    }));
    return this.#ask(
      "authorizeBatch",
      (r) => {
        const list = r._initAuthorizeBatch(items.length);
        items.forEach((item, i) => {
          const q = list.get(i);
          q.principal = item.principal;
          q.company = item.company;
          q.permission = item.permission;
        });
      },
      wire.Response_Which.AUTHORIZE_BATCH,
      (a) => {
        const b = a.authorizeBatch;
        return { revision: b.revision, items: b.items.map((i) => ({ allowed: i.allowed, reason: denyReason(i.reason) })) };
      },
      options,
    );
  }

  /** The effective permissions (direct ∪ roles) of a principal in a company. */
  async listPermissions(query: PrincipalInCompany, options?: CallOptions): Promise<PermissionList> {
    const set = principalInCompany(query);
    return this.#ask(
      "listPermissions",
      (r) => set(r._initListPermissions()),
      wire.Response_Which.PERMISSIONS,
      (a) => {
        const p = a.permissions;
        return { revision: p.revision, found: p.found, reason: denyReason(p.reason), names: strings(p.names) };
      },
      options,
    );
  }

  /** A name to an id; `found` is false for a name that names nothing. */
  async lookup(query: LookupQuery, options?: CallOptions): Promise<LookupResult> {
    const kind = ordinal(ENTITY_KINDS, query.kind, "kind");
    const name = text(query.name, "name");
    const company = u64(query.company, "company");
    return this.#ask(
      "lookup",
      (r) => {
        const q = r._initLookup();
        q.kind = kind as wire.EntityKind;
        q.name = name;
        q.company = company;
      },
      wire.Response_Which.LOOKUP,
      (a) => ({ revision: a.lookup.revision, found: a.lookup.found, id: a.lookup.id }),
      options,
    );
  }

  /** A page of companies, ids ascending. */
  async listCompanies(query: PageOptions = {}, options?: CallOptions): Promise<CompanyPage> {
    const paging = pageOf(query);
    return this.#ask(
      "listCompanies",
      (r) => {
        r.listCompanies = true;
        paging(r);
      },
      wire.Response_Which.COMPANIES,
      (a) => companyPage(a.companies),
      options,
    );
  }

  /** A page of the permission catalog, by bit. */
  async listCatalog(query: PageOptions = {}, options?: CallOptions): Promise<CatalogPage> {
    const paging = pageOf(query);
    return this.#ask(
      "listCatalog",
      (r) => {
        r.listCatalog = true;
        paging(r);
      },
      wire.Response_Which.CATALOG,
      (a) => {
        const c = a.catalog;
        return { ...page(c), names: strings(c.names), firstBit: c.firstBit };
      },
      options,
    );
  }

  /** A page of roles: the system roles, then (with `company`) that company's. */
  async listRoles(query: PageOptions & { company?: Id } = {}, options?: CallOptions): Promise<RolePage> {
    const paging = pageOf(query);
    const company = u64(query.company, "company");
    return this.#ask(
      "listRoles",
      (r) => {
        r._initListRoles().company = company;
        paging(r);
      },
      wire.Response_Which.ROLES,
      (a) => ({ ...page(a.roles), roles: a.roles.roles.map(role) }),
      options,
    );
  }

  /** A principal's record; `found` is false for an id that names none. */
  async getPrincipal(query: { principal: Id }, options?: CallOptions): Promise<PrincipalInfo> {
    const principal = u64(query.principal, "principal");
    return this.#ask(
      "getPrincipal",
      (r) => (r.getPrincipal = principal),
      wire.Response_Which.PRINCIPAL,
      (a) => {
        const p = a.principal;
        return {
          revision: p.revision,
          found: p.found,
          id: p.id,
          kind: named(PRINCIPAL_KINDS, p.kind),
          name: p.name,
          state: principalState(p.state),
          ownerCompany: p.ownerCompany,
          description: p.description,
          companies: bigints(p.companies),
        };
      },
      options,
    );
  }

  /** The direct permissions, roles and expiry of one grant; `found` is false once it has expired. */
  async getGrant(query: PrincipalInCompany, options?: CallOptions): Promise<GrantInfo> {
    const set = principalInCompany(query);
    return this.#ask(
      "getGrant",
      (r) => set(r._initGetGrant()),
      wire.Response_Which.GRANT,
      (a) => {
        const g = a.grant;
        return {
          revision: g.revision,
          found: g.found,
          permissions: strings(g.permissions),
          roles: bigints(g.roles),
          expiresAt: g.expiresAt,
        };
      },
      options,
    );
  }

  /** Checks an API key, or a user's password (and TOTP). A refusal is an answer, with its reason. */
  async checkCredential(query: CredentialQuery, options?: CallOptions): Promise<CredentialResult> {
    const credential = text(query.credential, "credential");
    const user = text(query.user, "user");
    const channel = ordinal(CHANNELS, query.channel ?? "api", "channel");
    const totp = text(query.totp, "totp");
    const source = text(query.source, "source");
    return this.#ask(
      "checkCredential",
      (r) => {
        const q = r._initCheckCredential();
        q.credential = credential;
        q.user = user;
        q.channel = channel as wire.Channel;
        q.totp = totp;
        q.source = source;
      },
      wire.Response_Which.CREDENTIAL,
      (a) => {
        const c = a.credential;
        return {
          accepted: c.accepted,
          refusal: refusal(c.refusal),
          principal: c.principal,
          kind: named(PRINCIPAL_KINDS, c.kind),
          keyId: c.keyId,
          retryAfterSeconds: c.retryAfterSeconds,
          revision: c.revision,
        };
      },
      options,
    );
  }

  /** One round trip: is this API key valid, and may its account do `permission` in `company`? */
  async checkAccess(query: AccessQuery, options?: CallOptions): Promise<AccessResult> {
    const credential = text(query.credential, "credential");
    const company = u64(query.company, "company");
    const permission = text(query.permission, "permission");
    const source = text(query.source, "source");
    return this.#ask(
      "checkAccess",
      (r) => {
        const q = r._initCheckAccess();
        q.credential = credential;
        q.company = company;
        q.permission = permission;
        q.source = source;
      },
      wire.Response_Which.ACCESS,
      (a) => {
        const c = a.access;
        return {
          allowed: c.allowed,
          credential: refusal(c.credential),
          reason: denyReason(c.reason),
          principal: c.principal,
          retryAfterSeconds: c.retryAfterSeconds,
          revision: c.revision,
        };
      },
      options,
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Provisioning: the system context (access class `admin`); answered once durable.

  async createCompany(query: { name: string }, options?: CallOptions): Promise<MutationResult> {
    const name = text(query.name, "name");
    return this.#mutation("createCompany", (r) => (r._initCreateCompany().name = name), options);
  }

  /** Adds the names not yet in the catalog; `count` says how many were new. */
  async definePermissions(names: readonly string[], options?: CallOptions): Promise<MutationResult> {
    const checked = names.map((n, i) => text(n, `names[${i}]`));
    return this.#mutation(
      "definePermissions",
      (r) => {
        const list = r._initDefinePermissions(checked.length);
        checked.forEach((n, i) => list.set(i, n));
      },
      options,
    );
  }

  /** `company` 0 (the default) creates a system role, usable in every company. */
  async createRole<O extends ChangeOptions | undefined = undefined>(
    query: { company?: Id; name: string; permissions?: readonly string[] },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const company = u64(query.company, "company");
    const name = text(query.name, "name");
    return this.#change(
      "createRole",
      (r) => {
        const q = r._initCreateRole();
        q.company = company;
        q.name = name;
        texts((n) => q._initPermissions(n), query.permissions, "permissions");
      },
      options as O,
    );
  }

  /** Replaces the role's permissions; a non-empty `rename` renames it. */
  async updateRole<O extends ChangeOptions | undefined = undefined>(
    query: { role: Id; permissions?: readonly string[]; rename?: string },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const set = roleEditQuery(query);
    return this.#change("updateRole", (r) => set(r._initUpdateRole()), options as O);
  }

  async deleteRole<O extends ChangeOptions | undefined = undefined>(
    query: { role: Id },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const id = u64(query.role, "role");
    return this.#change("deleteRole", (r) => (r.deleteRole = id), options as O);
  }

  async createUser(query: { name: string }, options?: CallOptions): Promise<MutationResult> {
    const name = text(query.name, "name");
    return this.#mutation("createUser", (r) => (r._initCreateUser().name = name), options);
  }

  async createServiceAccount(
    query: { name: string; ownerCompany: Id; description?: string },
    options?: CallOptions,
  ): Promise<MutationResult> {
    const name = text(query.name, "name");
    const owner = u64(query.ownerCompany, "ownerCompany");
    const description = text(query.description, "description");
    return this.#mutation(
      "createServiceAccount",
      (r) => {
        const q = r._initCreateServiceAccount();
        q.name = name;
        q.ownerCompany = owner;
        q.description = description;
      },
      options,
    );
  }

  /** Replaces the whole grant: direct permissions, roles (system roles or roles of `company`) and
   *  expiry (`expiresAt`, Unix seconds; absent or 0: permanent). */
  async setGrant<O extends ChangeOptions | undefined = undefined>(
    query: GrantQuery,
    options?: O,
  ): Promise<ChangeResult<O>> {
    const set = grantQuery(query);
    const company = u64(query.company, "company");
    return this.#change(
      "setGrant",
      (r) => {
        const q = r._initSetGrant();
        set(q);
        q.company = company;
      },
      options as O,
    );
  }

  async removeGrant<O extends ChangeOptions | undefined = undefined>(
    query: PrincipalInCompany,
    options?: O,
  ): Promise<ChangeResult<O>> {
    const set = principalInCompany(query);
    return this.#change("removeGrant", (r) => set(r._initRemoveGrant()), options as O);
  }

  /** Disables or enables a principal; a disabled one keeps its grants and is denied everywhere. */
  async setPrincipalState<O extends ChangeOptions | undefined = undefined>(
    query: { principal: Id; state: PrincipalState },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const set = stateQuery(query);
    return this.#change("setPrincipalState", (r) => set(r._initSetPrincipalState()), options as O);
  }

  async deletePrincipal<O extends ChangeOptions | undefined = undefined>(
    query: { principal: Id },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const principal = u64(query.principal, "principal");
    return this.#change("deletePrincipal", (r) => (r.deletePrincipal = principal), options as O);
  }

  // ---------------------------------------------------------------------------------------------
  // Credential management: the system context (access class `admin`)

  /** Issues a key; the secret is in the answer, once. `expiresAt`: Unix seconds, 0 never. */
  async createKey(query: { serviceAccount: Id; expiresAt?: Id }, options?: CallOptions): Promise<KeyIssued> {
    const set = keyQuery(query);
    return this.#keyIssued("createKey", (r) => set(r._initCreateKey()), options);
  }

  /** A service account's keys (never secrets). */
  async listKeys(query: { serviceAccount: Id }, options?: CallOptions): Promise<KeyList> {
    const account = u64(query.serviceAccount, "serviceAccount");
    return this.#ask(
      "listKeys",
      (r) => (r.listKeys = account),
      wire.Response_Which.KEYS,
      (a) => ({ revision: a.keys.revision, keys: a.keys.keys.map(key) }),
      options,
    );
  }

  async revokeKey(query: { key: Id }, options?: CallOptions): Promise<MutationResult> {
    const id = u64(query.key, "key");
    return this.#mutation("revokeKey", (r) => (r.revokeKey = id), options);
  }

  /** Revokes every key of the account and issues one. */
  async resetKeys(query: { serviceAccount: Id; expiresAt?: Id }, options?: CallOptions): Promise<KeyIssued> {
    const set = keyQuery(query);
    return this.#keyIssued("resetKeys", (r) => set(r._initResetKeys()), options);
  }

  /** Issues a key; the account's other keys retire after `graceSeconds`. */
  async rotateKey(
    query: { serviceAccount: Id; graceSeconds?: number; expiresAt?: Id },
    options?: CallOptions,
  ): Promise<KeyIssued> {
    const set = rotateQuery(query);
    return this.#keyIssued("rotateKey", (r) => set(r._initRotateKey()), options);
  }

  /** Sets a user's password (8 to 1,024 bytes); answered after Argon2id has run. */
  async setPassword(query: { user: Id; password: string }, options?: CallOptions): Promise<MutationResult> {
    const user = u64(query.user, "user");
    const password = text(query.password, "password");
    return this.#mutation(
      "setPassword",
      (r) => {
        const q = r._initSetPassword();
        q.user = user;
        q.password = password;
      },
      options,
    );
  }

  /** Enrolls a user in TOTP; the otpauth:// URI is in the answer, once. */
  async enrollTotp(query: { user: Id }, options?: CallOptions): Promise<TotpEnrolled> {
    const user = u64(query.user, "user");
    return this.#ask(
      "enrollTotp",
      (r) => (r.enrollTotp = user),
      wire.Response_Which.TOTP_ENROLLED,
      (a) => ({ revision: a.totpEnrolled.revision, uri: a.totpEnrolled.uri }),
      options,
    );
  }

  async removeTotp(query: { user: Id }, options?: CallOptions): Promise<MutationResult> {
    const user = u64(query.user, "user");
    return this.#mutation("removeTotp", (r) => (r.removeTotp = user), options);
  }

  // ---------------------------------------------------------------------------------------------
  // Management by an actor in its active company (docs/service-accounts.md)

  /** Creates a service account owned by the active company; the first key's secret, once. */
  async saCreate(
    as: ActorContext,
    query: { name: string; description?: string; permissions?: readonly string[]; roles?: readonly Id[] },
    options?: CallOptions,
  ): Promise<SaCreated> {
    const name = text(query.name, "name");
    const description = text(query.description, "description");
    return this.#askActor(
      "saCreate",
      as,
      (r) => {
        const q = r._initSaCreate();
        q.name = name;
        q.description = description;
        texts((n) => q._initPermissions(n), query.permissions, "permissions");
        ids((n) => q._initRoles(n), query.roles, "roles");
      },
      wire.Response_Which.SA_CREATED,
      (a) => {
        const c = a.saCreated;
        return { revision: c.revision, id: c.id, keyId: c.keyId, secret: c.secret };
      },
      options,
    );
  }

  /** Owner only. */
  async saDescribe(as: ActorContext, query: { serviceAccount: Id; description: string }, options?: CallOptions): Promise<MutationResult> {
    const account = u64(query.serviceAccount, "serviceAccount");
    const description = text(query.description, "description");
    return this.#actorMutation(
      "saDescribe",
      as,
      (r) => {
        const q = r._initSaDescribe();
        q.serviceAccount = account;
        q.description = description;
      },
      options,
    );
  }

  /** Owner only: revokes every key, issues one (its secret, once). */
  async saResetCredentials(as: ActorContext, query: { serviceAccount: Id }, options?: CallOptions): Promise<KeyIssued> {
    const account = u64(query.serviceAccount, "serviceAccount");
    return this.#keyIssued("saResetCredentials", (r) => (r.saResetCredentials = account), options, as);
  }

  /** Owner only: removes the account, its keys and its grants everywhere. */
  async saDelete<O extends ChangeOptions | undefined = undefined>(
    as: ActorContext,
    query: { serviceAccount: Id },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const account = u64(query.serviceAccount, "serviceAccount");
    return this.#change("saDelete", (r) => (r.saDelete = account), options as O, as);
  }

  /** Owner only: disables or enables the account. */
  async saSetState<O extends ChangeOptions | undefined = undefined>(
    as: ActorContext,
    query: { principal: Id; state: PrincipalState },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const set = stateQuery(query);
    return this.#change("saSetState", (r) => set(r._initSaSetState()), options as O, as);
  }

  /** Replaces the account's grant in the active company (owned, offered to it, or already
   *  granted); `expiresAt` makes it time-boxed. */
  async saGrant<O extends ChangeOptions | undefined = undefined>(
    as: ActorContext,
    query: ScopedGrantQuery,
    options?: O,
  ): Promise<ChangeResult<O>> {
    const set = grantQuery(query);
    return this.#change("saGrant", (r) => set(r._initSaGrant()), options as O, as);
  }

  /** Removes the account's access to the active company (an offer stays). */
  async saRevoke<O extends ChangeOptions | undefined = undefined>(
    as: ActorContext,
    query: { serviceAccount: Id },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const account = u64(query.serviceAccount, "serviceAccount");
    return this.#change("saRevoke", (r) => (r.saRevoke = account), options as O, as);
  }

  /** The Service Accounts view of the active company, a page at a time. */
  async saList(as: ActorContext, query: PageOptions = {}, options?: CallOptions): Promise<SaView> {
    const paging = pageOf(query);
    return this.#askActor(
      "saList",
      as,
      (r) => {
        r.saList = true;
        paging(r);
      },
      wire.Response_Which.SA_VIEW,
      (a) => saView(a.saView),
      options,
    );
  }

  /** One row of the view. */
  async saShow(as: ActorContext, query: { serviceAccount: Id }, options?: CallOptions): Promise<SaView> {
    const account = u64(query.serviceAccount, "serviceAccount");
    return this.#askActor(
      "saShow",
      as,
      (r) => (r.saShow = account),
      wire.Response_Which.SA_VIEW,
      (a) => saView(a.saView),
      options,
    );
  }

  /** Owner only: the companies where the account holds grants. */
  async saCompanies(as: ActorContext, query: { serviceAccount: Id }, options?: CallOptions): Promise<CompanyPage> {
    const account = u64(query.serviceAccount, "serviceAccount");
    return this.#askActor(
      "saCompanies",
      as,
      (r) => (r.saCompanies = account),
      wire.Response_Which.SA_COMPANIES,
      (a) => companyPage(a.saCompanies),
      options,
    );
  }

  /** Owner only: offers the account to `company`, which may then grant it access there. */
  async saShare(as: ActorContext, query: { serviceAccount: Id; company: Id }, options?: CallOptions): Promise<MutationResult> {
    const set = shareQuery(query);
    return this.#actorMutation("saShare", as, (r) => set(r._initSaShare()), options);
  }

  /** Owner only: withdraws the offer and removes the account's access to `company`. */
  async saUnshare<O extends ChangeOptions | undefined = undefined>(
    as: ActorContext,
    query: { serviceAccount: Id; company: Id },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const set = shareQuery(query);
    return this.#change("saUnshare", (r) => set(r._initSaUnshare()), options as O, as);
  }

  /** Owner only: the most any other company may grant the account (`permissions`; empty:
   *  nothing), or with `clear` no limit. Lowering it trims grants elsewhere. */
  async saSetCeiling<O extends ChangeOptions | undefined = undefined>(
    as: ActorContext,
    query: { serviceAccount: Id; permissions?: readonly string[]; clear?: boolean },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const account = u64(query.serviceAccount, "serviceAccount");
    const clear = query.clear === true;
    return this.#change(
      "saSetCeiling",
      (r) => {
        const q = r._initSaSetCeiling();
        q.serviceAccount = account;
        q.clear = clear;
        texts((n) => q._initPermissions(n), query.permissions, "permissions");
      },
      options as O,
      as,
    );
  }

  /** Owner only: offers the account's ownership to `company` (replacing a pending offer). With
   *  `dropAccess`, the owner's own grant goes at acceptance; by default it stays, as an external
   *  company's grant with an offer. */
  async saOfferOwnership(
    as: ActorContext,
    query: { serviceAccount: Id; company: Id; dropAccess?: boolean },
    options?: CallOptions,
  ): Promise<MutationResult> {
    const account = u64(query.serviceAccount, "serviceAccount");
    const company = u64(query.company, "company");
    const dropAccess = query.dropAccess === true;
    return this.#actorMutation(
      "saOfferOwnership",
      as,
      (r) => {
        const q = r._initSaOfferOwnership();
        q.serviceAccount = account;
        q.company = company;
        q.dropAccess = dropAccess;
      },
      options,
    );
  }

  /** The owner withdraws the pending offer of the account's ownership, or the company offered
   *  declines it. */
  async saCancelTransfer(as: ActorContext, query: { serviceAccount: Id }, options?: CallOptions): Promise<MutationResult> {
    const account = u64(query.serviceAccount, "serviceAccount");
    return this.#actorMutation("saCancelTransfer", as, (r) => (r.saCancelTransfer = account), options);
  }

  /** The company offered the ownership accepts it: it becomes the owner, every key of the account
   *  is revoked (`count` says how many) and its ceiling is removed. */
  async saAcceptOwnership<O extends ChangeOptions | undefined = undefined>(
    as: ActorContext,
    query: { serviceAccount: Id },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const account = u64(query.serviceAccount, "serviceAccount");
    return this.#change("saAcceptOwnership", (r) => (r.saAcceptOwnership = account), options as O, as);
  }

  /** Owner only: issues a key (its secret, once). */
  async saKeyCreate(as: ActorContext, query: { serviceAccount: Id; expiresAt?: Id }, options?: CallOptions): Promise<KeyIssued> {
    const set = keyQuery(query);
    return this.#keyIssued("saKeyCreate", (r) => set(r._initSaKeyCreate()), options, as);
  }

  /** Owner only: revokes one key. */
  async saKeyRevoke(as: ActorContext, query: { key: Id }, options?: CallOptions): Promise<MutationResult> {
    const id = u64(query.key, "key");
    return this.#actorMutation("saKeyRevoke", as, (r) => (r.saKeyRevoke = id), options);
  }

  /** Owner only: issues a key; the others retire after `graceSeconds`. */
  async saKeyRotate(
    as: ActorContext,
    query: { serviceAccount: Id; graceSeconds?: number; expiresAt?: Id },
    options?: CallOptions,
  ): Promise<KeyIssued> {
    const set = rotateQuery(query);
    return this.#keyIssued("saKeyRotate", (r) => set(r._initSaKeyRotate()), options, as);
  }

  /** A role of the active company. */
  async roleCreate<O extends ChangeOptions | undefined = undefined>(
    as: ActorContext,
    query: { name: string; permissions?: readonly string[] },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const name = text(query.name, "name");
    return this.#change(
      "roleCreate",
      (r) => {
        const q = r._initRoleCreate();
        q.name = name;
        texts((n) => q._initPermissions(n), query.permissions, "permissions");
      },
      options as O,
      as,
    );
  }

  /** Edits a role of the active company; every holder is rewritten in the same transaction. */
  async roleEdit<O extends ChangeOptions | undefined = undefined>(
    as: ActorContext,
    query: { role: Id; permissions?: readonly string[]; rename?: string },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const set = roleEditQuery(query);
    return this.#change("roleEdit", (r) => set(r._initRoleEdit()), options as O, as);
  }

  async roleDelete<O extends ChangeOptions | undefined = undefined>(
    as: ActorContext,
    query: { role: Id },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const id = u64(query.role, "role");
    return this.#change("roleDelete", (r) => (r.roleDelete = id), options as O, as);
  }

  async userCreate(as: ActorContext, query: { name: string }, options?: CallOptions): Promise<MutationResult> {
    const name = text(query.name, "name");
    return this.#actorMutation("userCreate", as, (r) => (r._initUserCreate().name = name), options);
  }

  /** Replaces a user's grant in the active company; `expiresAt` makes it time-boxed. */
  async userGrant<O extends ChangeOptions | undefined = undefined>(
    as: ActorContext,
    query: ScopedGrantQuery,
    options?: O,
  ): Promise<ChangeResult<O>> {
    const set = grantQuery(query);
    return this.#change("userGrant", (r) => set(r._initUserGrant()), options as O, as);
  }

  /** Removes a user's access to the active company. */
  async userRevoke<O extends ChangeOptions | undefined = undefined>(
    as: ActorContext,
    query: { user: Id },
    options?: O,
  ): Promise<ChangeResult<O>> {
    const user = u64(query.user, "user");
    return this.#change("userRevoke", (r) => (r.userRevoke = user), options as O, as);
  }

  /** The audit events in the active company's scope, newest first (`actor` 0: the system
   *  context, which sees every event). `limit` 0 means 100; at most 1,000. */
  async auditList(as: ActorContext, query: { limit?: number; before?: Id } = {}, options?: CallOptions): Promise<AuditPage> {
    const limit = u32(query.limit, "limit");
    const before = u64(query.before, "before");
    return this.#askActor(
      "auditList",
      as,
      (r) => {
        const q = r._initAuditList();
        q.limit = limit;
        q.before = before;
      },
      wire.Response_Which.AUDIT,
      (a) => ({
        revision: a.audit.revision,
        events: a.audit.events.map((e) => ({
          sequence: e.sequence,
          time: e.time,
          actor: e.actor,
          activeCompany: e.activeCompany,
          peerUid: e.peerUid,
          peerPid: e.peerPid,
          operation: e.operation,
          target: e.target,
          outcome: e.outcome,
        })),
      }),
      options,
    );
  }
}

function pageOf(query: PageOptions): (request: wire.Request) => void {
  const size = u32(query.pageSize, "pageSize");
  const token = u64(query.pageToken, "pageToken");
  return (r) => {
    r.pageSize = size;
    r.pageToken = token;
  };
}

/** Connects to gatehoused: `await connect({ socket, timeoutMs })`. */
export function connect(options: ClientOptions = {}): Promise<Client> {
  return Client.connect(options);
}
