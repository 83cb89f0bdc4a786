// Every method of the client against the real daemon: checks and queries, provisioning,
// credential management and the actor requests, with the answers and refusals each one gives.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { connect, type Client } from "../src/index.js";
import { Daemon } from "./daemon.js";
import { rejectsWith } from "./expect.js";

let daemon: Daemon;
let gh: Client;

const PERMISSIONS = [
  "routers.read",
  "routers.reboot",
  "service_accounts.manage",
  "service_accounts.read",
  "roles.manage",
  "users.manage",
  "audit.read",
];

// The graph: an MSP company and a client company, each with an administrator (the system role
// `admin`: everything but routers.reboot); alice also holds routers.reboot in msp.
const ids = { msp: 0n, north: 0n, admin: 0n, alice: 0n, nadia: 0n, eve: 0n };

before(async () => {
  daemon = await Daemon.start({ credentialsToml: "password_ops_limit = 1\npassword_mem_limit_mib = 8\n" });
  gh = await connect({ socket: daemon.socket, timeoutMs: 30_000 });
  await gh.definePermissions(PERMISSIONS);
  ids.msp = (await gh.createCompany({ name: "msp" })).id;
  ids.north = (await gh.createCompany({ name: "client-north" })).id;
  ids.admin = (
    await gh.createRole({ name: "admin", permissions: PERMISSIONS.filter((p) => p !== "routers.reboot") })
  ).id;
  ids.alice = (await gh.createUser({ name: "alice" })).id;
  ids.nadia = (await gh.createUser({ name: "nadia" })).id;
  ids.eve = (await gh.createUser({ name: "eve" })).id;
  await gh.setGrant({ principal: ids.alice, company: ids.msp, permissions: ["routers.reboot"], roles: [ids.admin] });
  await gh.setGrant({ principal: ids.nadia, company: ids.north, roles: [ids.admin] });
  await gh.setGrant({ principal: ids.eve, company: ids.north, permissions: ["routers.read"] });
});

after(async () => {
  await gh?.close();
  await daemon?.dispose();
});

describe("checks and queries", () => {
  test("ping, hello and stats", async () => {
    await gh.ping();
    const hello = await gh.hello();
    assert.match(hello.version, /^\d+\.\d+\.\d+/);
    assert.ok(hello.revision > 0n);
    const metrics = await gh.stats();
    const checks = metrics.find((m) => m.name === "gatehouse_checks_total");
    assert.ok(checks, "gatehouse_checks_total");
    assert.equal(checks.type, "counter");
    assert.ok(metrics.every((m) => m.name.startsWith("gatehouse_")));
  });

  test("authorize allows, and denies with every reason, in the documented order", async () => {
    const q = { principal: ids.alice, company: ids.msp };
    const allowed = await gh.authorize({ ...q, permission: "routers.reboot" });
    assert.deepEqual({ allowed: allowed.allowed, reason: allowed.reason }, { allowed: true, reason: "none" });
    assert.ok(allowed.revision > 0n);
    const reason = async (principal: bigint, company: bigint, permission: string) =>
      (await gh.authorize({ principal, company, permission })).reason;
    assert.equal(await reason(999_999n, ids.msp, "routers.read"), "unknownPrincipal");
    assert.equal(await reason(ids.alice, 999_999n, "routers.read"), "unknownCompany");
    assert.equal(await reason(ids.alice, ids.msp, "routers.fly"), "unknownPermission");
    assert.equal(await reason(ids.alice, ids.north, "routers.read"), "noAccess");
    assert.equal(await reason(ids.nadia, ids.north, "routers.reboot"), "notGranted");
    const disabled = (await gh.createUser({ name: "dora" })).id;
    await gh.setGrant({ principal: disabled, company: ids.north, permissions: ["routers.read"] });
    await gh.setPrincipalState({ principal: disabled, state: "disabled" });
    assert.equal(await reason(disabled, ids.north, "routers.read"), "principalDisabled");
    await gh.setPrincipalState({ principal: disabled, state: "active" });
    assert.equal(await reason(disabled, ids.north, "routers.read"), "none");
  });

  test("ids may be numbers; invalid ones are refused before anything is sent", async () => {
    const d = await gh.authorize({ principal: Number(ids.alice), company: Number(ids.msp), permission: "routers.read" });
    assert.equal(d.allowed, true);
    await assert.rejects(gh.authorize({ principal: -1, company: 1, permission: "a" }), RangeError);
    await assert.rejects(gh.authorize({ principal: 2 ** 60, company: 1, permission: "a" }), /use a bigint/);
    await assert.rejects(gh.authorize({ principal: 2n ** 64n, company: 1, permission: "a" }), /UInt64/);
    await assert.rejects(gh.lookup({ kind: "planet" as never, name: "x" }), /kind: 'planet'/);
  });

  test("authorizeBatch answers every item from one snapshot, in order", async () => {
    const batch = await gh.authorizeBatch([
      { principal: ids.alice, company: ids.msp, permission: "routers.reboot" },
      { principal: ids.nadia, company: ids.msp, permission: "routers.read" },
      { principal: ids.nadia, company: ids.north, permission: "routers.read" },
    ]);
    assert.deepEqual(batch.items, [
      { allowed: true, reason: "none" },
      { allowed: false, reason: "noAccess" },
      { allowed: true, reason: "none" },
    ]);
    assert.ok(batch.revision > 0n);
  });

  test("listPermissions and getGrant", async () => {
    const list = await gh.listPermissions({ principal: ids.alice, company: ids.msp });
    assert.equal(list.found, true);
    assert.deepEqual([...list.names].sort(), [...PERMISSIONS].sort());
    const none = await gh.listPermissions({ principal: ids.alice, company: ids.north });
    assert.deepEqual({ found: none.found, reason: none.reason, names: none.names }, { found: false, reason: "noAccess", names: [] });
    const grant = await gh.getGrant({ principal: ids.alice, company: ids.msp });
    assert.deepEqual({ found: grant.found, permissions: grant.permissions, roles: grant.roles }, {
      found: true,
      permissions: ["routers.reboot"],
      roles: [ids.admin],
    });
    assert.equal((await gh.getGrant({ principal: ids.alice, company: ids.north })).found, false);
  });

  test("lookup of every kind", async () => {
    assert.deepEqual(await pick(gh.lookup({ kind: "company", name: "msp" })), { found: true, id: ids.msp });
    assert.deepEqual(await pick(gh.lookup({ kind: "principal", name: "nadia" })), { found: true, id: ids.nadia });
    assert.deepEqual(await pick(gh.lookup({ kind: "role", name: "admin" })), { found: true, id: ids.admin });
    assert.equal((await gh.lookup({ kind: "permission", name: "routers.reboot" })).id, 1n); // its bit
    assert.deepEqual(await pick(gh.lookup({ kind: "company", name: "nowhere" })), { found: false, id: 0n });
  });

  test("listCompanies, listCatalog and listRoles follow their pages", async () => {
    await gh.createCompany({ name: "client-south" });
    const names: string[] = [];
    let token = 0n;
    let pages = 0;
    for (;;) {
      const page = await gh.listCompanies({ pageSize: 2, pageToken: token });
      names.push(...page.companies.map((c) => c.name));
      pages++;
      if (!page.more) break;
      assert.ok(page.nextPageToken > 0n);
      token = page.nextPageToken;
    }
    assert.ok(pages >= 2);
    assert.deepEqual(names.slice(0, 3), ["msp", "client-north", "client-south"]);

    const first = await gh.listCatalog({ pageSize: 3 });
    assert.deepEqual(first.names, PERMISSIONS.slice(0, 3));
    assert.equal(first.firstBit, 0);
    assert.equal(first.more, true);
    const second = await gh.listCatalog({ pageSize: 3, pageToken: first.nextPageToken });
    assert.equal(second.firstBit, 3);
    assert.deepEqual(second.names, PERMISSIONS.slice(3, 6));

    const own = await gh.createRole({ company: ids.north, name: "north-ops", permissions: ["routers.read"] });
    const roles = await gh.listRoles({ company: ids.north });
    const north = roles.roles.find((r) => r.id === own.id);
    assert.deepEqual(north, { id: own.id, company: ids.north, name: "north-ops", permissions: ["routers.read"] });
    assert.ok(roles.roles.some((r) => r.id === ids.admin && r.company === 0n));
    const system = await gh.listRoles();
    assert.ok(system.roles.every((r) => r.company === 0n));
  });

  test("getPrincipal", async () => {
    const p = await gh.getPrincipal({ principal: ids.nadia });
    assert.equal(p.found, true);
    assert.equal(p.kind, "user");
    assert.equal(p.name, "nadia");
    assert.equal(p.state, "active");
    assert.deepEqual(p.companies, [ids.north]);
    assert.equal((await gh.getPrincipal({ principal: 999_999n })).found, false);
  });
});

function totp(secretBase32: string, stepsAgo = 0): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of secretBase32.replace(/=+$/, "")) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) - stepsAgo));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

describe("provisioning and credentials (system context)", () => {
  test("service accounts, keys, checkCredential and checkAccess", async () => {
    const sa = (await gh.createServiceAccount({ name: "fleet", ownerCompany: ids.msp, description: "the fleet script" })).id;
    await gh.setGrant({ principal: sa, company: ids.msp, permissions: ["routers.read"] });
    const key = await gh.createKey({ serviceAccount: sa });
    assert.ok(key.secret.length > 40);
    const accepted = await gh.checkCredential({ credential: key.secret, source: "192.0.2.1" });
    assert.deepEqual(
      { accepted: accepted.accepted, refusal: accepted.refusal, principal: accepted.principal, kind: accepted.kind, keyId: accepted.keyId },
      { accepted: true, refusal: "none", principal: sa, kind: "serviceAccount", keyId: key.keyId },
    );
    const ui = await gh.checkCredential({ credential: key.secret, channel: "ui" });
    assert.deepEqual([ui.accepted, ui.refusal], [false, "serviceAccountNoUi"]);
    const access = await gh.checkAccess({ credential: key.secret, company: ids.msp, permission: "routers.read" });
    assert.deepEqual([access.allowed, access.credential, access.reason, access.principal], [true, "none", "none", sa]);
    const denied = await gh.checkAccess({ credential: key.secret, company: ids.msp, permission: "routers.reboot" });
    assert.deepEqual([denied.allowed, denied.credential, denied.reason], [false, "none", "notGranted"]);
    const typo = key.secret.slice(0, -2) + (key.secret.endsWith("AA") ? "BB" : "AA");
    const bad = await gh.checkAccess({ credential: typo, company: ids.msp, permission: "routers.read" });
    assert.deepEqual([bad.allowed, bad.credential], [false, "badCredential"]);

    const keys = await gh.listKeys({ serviceAccount: sa });
    assert.deepEqual(keys.keys.map((k) => [k.id, k.state]), [[key.keyId, "active"]]);
    const rotated = await gh.rotateKey({ serviceAccount: sa, graceSeconds: 3600 });
    assert.equal(rotated.retired, 1);
    assert.deepEqual(
      (await gh.listKeys({ serviceAccount: sa })).keys.map((k) => k.state).sort(),
      ["active", "retiring"],
    );
    await gh.revokeKey({ key: rotated.keyId });
    const revoked = await gh.checkCredential({ credential: rotated.secret });
    assert.equal(revoked.refusal, "keyRevoked");
    const reset = await gh.resetKeys({ serviceAccount: sa });
    assert.ok(reset.retired >= 1);
    assert.equal((await gh.checkCredential({ credential: key.secret })).refusal, "keyRevoked");
    assert.equal((await gh.checkCredential({ credential: reset.secret })).accepted, true);
  });

  test("passwords and TOTP", async () => {
    const user = (await gh.createUser({ name: "pat" })).id;
    await gh.setPassword({ user, password: "correct horse battery" });
    const ok = await gh.checkCredential({ user: "pat", credential: "correct horse battery", channel: "ui" });
    assert.deepEqual([ok.accepted, ok.principal, ok.kind], [true, user, "user"]);
    const wrong = await gh.checkCredential({ user: "pat", credential: "wrong horse battery", channel: "ui" });
    assert.deepEqual([wrong.accepted, wrong.refusal], [false, "badCredential"]);

    const enrolled = await gh.enrollTotp({ user });
    const secret = /secret=([A-Z2-7]+)/.exec(enrolled.uri)?.[1];
    assert.ok(secret, enrolled.uri);
    const noCode = await gh.checkCredential({ user: "pat", credential: "correct horse battery", channel: "ui" });
    assert.equal(noCode.refusal, "totpRequired");
    const code = totp(secret);
    const withCode = await gh.checkCredential({ user: "pat", credential: "correct horse battery", channel: "ui", totp: code });
    assert.equal(withCode.accepted, true, withCode.refusal);
    const replayed = await gh.checkCredential({ user: "pat", credential: "correct horse battery", channel: "ui", totp: code });
    assert.equal(replayed.refusal, "totpReplayed");
    await gh.removeTotp({ user });
    assert.equal((await gh.checkCredential({ user: "pat", credential: "correct horse battery", channel: "ui" })).accepted, true);
  });

  test("roles, grants and principals change what authorize answers", async () => {
    const ops = (await gh.createRole({ company: ids.north, name: "ops", permissions: ["routers.read"] })).id;
    const u = (await gh.createUser({ name: "olga" })).id;
    const set = await gh.setGrant({ principal: u, company: ids.north, roles: [ops] });
    const check = () => gh.authorize({ principal: u, company: ids.north, permission: "routers.reboot" });
    assert.equal((await check()).allowed, false);
    const updated = await gh.updateRole({ role: ops, permissions: ["routers.read", "routers.reboot"], rename: "operators" });
    assert.ok(updated.revision > set.revision);
    const after = await check();
    assert.equal(after.allowed, true);
    assert.ok(after.revision >= updated.revision, "the answer reflects the change");
    assert.equal((await gh.lookup({ kind: "role", name: "operators", company: ids.north })).id, ops);
    await gh.deleteRole({ role: ops });
    assert.equal((await check()).reason, "notGranted");
    await gh.removeGrant({ principal: u, company: ids.north });
    assert.equal((await check()).reason, "noAccess");
    await gh.deletePrincipal({ principal: u });
    assert.equal((await check()).reason, "unknownPrincipal");
  });

  test("definePermissions counts the new names", async () => {
    const m = await gh.definePermissions(["routers.read", "firmware.push"]);
    assert.equal(m.count, 1);
  });
});

describe("management by an actor", () => {
  const asAlice = () => ({ actor: ids.alice, company: ids.msp });
  const asNadia = () => ({ actor: ids.nadia, company: ids.north });

  test("an account owned by msp, shared with and granted in north", async () => {
    const created = await gh.saCreate(asAlice(), { name: "bot", description: "MSP script", permissions: ["routers.read"] });
    const bot = created.id;
    assert.ok(created.secret.length > 40);
    await gh.saDescribe(asAlice(), { serviceAccount: bot, description: "the MSP's script" });
    await gh.saShare(asAlice(), { serviceAccount: bot, company: ids.north });

    const offered = await gh.saShow(asNadia(), { serviceAccount: bot });
    assert.deepEqual([offered.rows[0]?.relation, offered.rows[0]?.offered, offered.rows[0]?.hasAccess], ["external", true, false]);
    await gh.saGrant(asNadia(), { principal: bot, permissions: ["routers.read"] });
    const check = await gh.checkAccess({ credential: created.secret, company: ids.north, permission: "routers.read" });
    assert.equal(check.allowed, true);

    const view = await gh.saList(asNadia());
    const row = view.rows.find((r) => r.id === bot);
    assert.ok(row);
    assert.equal(view.company, ids.north);
    assert.equal(row.relation, "external");
    assert.equal(row.ownerCompanyName, "msp");
    assert.equal(row.description, "the MSP's script");
    assert.deepEqual(row.permissions, ["routers.read"]);
    assert.deepEqual(row.keys, []);
    assert.deepEqual(row.actions, {
      editDescription: false,
      resetCredentials: false,
      delete: false,
      editPermissions: true,
      removeAccess: true,
      share: false,
      transfer: false,
      acceptOwnership: false,
    });
    const own = (await gh.saShow(asAlice(), { serviceAccount: bot })).rows[0];
    assert.equal(own?.relation, "owned");
    assert.deepEqual(own?.offeredTo, [{ id: ids.north, name: "client-north" }]);
    assert.equal(own?.keys.length, 1);
    assert.equal(own?.actions.delete, true);

    const where = await gh.saCompanies(asAlice(), { serviceAccount: bot });
    assert.deepEqual(where.companies.map((c) => c.id).sort(), [ids.msp, ids.north].sort());

    await gh.saSetCeiling(asAlice(), { serviceAccount: bot, permissions: ["routers.read", "audit.read"] });
    const ceiled = (await gh.saShow(asNadia(), { serviceAccount: bot })).rows[0];
    assert.deepEqual([ceiled?.hasCeiling, ceiled?.ceiling], [true, ["routers.read", "audit.read"]]);
    await gh.saSetCeiling(asAlice(), { serviceAccount: bot, clear: true });

    const key = await gh.saKeyCreate(asAlice(), { serviceAccount: bot });
    const rotated = await gh.saKeyRotate(asAlice(), { serviceAccount: bot, graceSeconds: 60 });
    await gh.saKeyRevoke(asAlice(), { key: key.keyId });
    assert.equal((await gh.checkCredential({ credential: key.secret })).refusal, "keyRevoked");
    const reset = await gh.saResetCredentials(asAlice(), { serviceAccount: bot });
    assert.equal((await gh.checkCredential({ credential: rotated.secret })).refusal, "keyRevoked");
    assert.equal((await gh.checkCredential({ credential: reset.secret })).accepted, true);

    await gh.saSetState(asAlice(), { principal: bot, state: "disabled" });
    assert.equal((await gh.authorize({ principal: bot, company: ids.north, permission: "routers.read" })).reason, "principalDisabled");
    await gh.saSetState(asAlice(), { principal: bot, state: "active" });

    await gh.saRevoke(asNadia(), { serviceAccount: bot });
    assert.equal((await gh.authorize({ principal: bot, company: ids.north, permission: "routers.read" })).reason, "noAccess");
    await gh.saUnshare(asAlice(), { serviceAccount: bot, company: ids.north });
    await rejectsWith(gh.saShow(asNadia(), { serviceAccount: bot }), "notFound");
    await gh.saDelete(asAlice(), { serviceAccount: bot });
    assert.equal((await gh.authorize({ principal: bot, company: ids.msp, permission: "routers.read" })).reason, "unknownPrincipal");
  });

  test("roles and users of the active company", async () => {
    const role = (await gh.roleCreate(asNadia(), { name: "viewers", permissions: ["routers.read"] })).id;
    await gh.roleEdit(asNadia(), { role, permissions: ["routers.read", "audit.read"], rename: "auditors" });
    const user = (await gh.userCreate(asNadia(), { name: "ned" })).id;
    await gh.userGrant(asNadia(), { principal: user, roles: [role] });
    assert.equal((await gh.authorize({ principal: user, company: ids.north, permission: "audit.read" })).allowed, true);
    await gh.userRevoke(asNadia(), { user });
    assert.equal((await gh.authorize({ principal: user, company: ids.north, permission: "audit.read" })).reason, "noAccess");
    await gh.roleDelete(asNadia(), { role });
    assert.equal((await gh.lookup({ kind: "role", name: "auditors", company: ids.north })).found, false);
  });

  test("auditList shows the company's events, newest first; the system sees all", async () => {
    const page = await gh.auditList(asNadia(), { limit: 5 });
    assert.ok(page.events.length > 0 && page.events.length <= 5);
    assert.ok(page.events.every((e) => e.activeCompany === ids.north || e.operation.startsWith("sa")));
    for (let i = 1; i < page.events.length; i++) assert.ok(page.events[i - 1]!.sequence > page.events[i]!.sequence);
    const older = await gh.auditList(asNadia(), { limit: 5, before: page.events.at(-1)!.sequence });
    assert.ok(older.events.every((e) => e.sequence < page.events.at(-1)!.sequence));
    const all = await gh.auditList({ actor: 0, company: 0 }, { limit: 1000 });
    assert.ok(all.events.some((e) => e.operation === "createCompany" && e.actor === 0n));
    assert.ok(all.events.length > page.events.length);
  });
});

async function pick(p: Promise<{ found: boolean; id: bigint }>): Promise<{ found: boolean; id: bigint }> {
  const { found, id } = await p;
  return { found, id };
}
