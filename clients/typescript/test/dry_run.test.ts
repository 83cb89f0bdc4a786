// Dry runs (docs/protocol.md, "Dry runs") against the real daemon: `{ dryRun: true }` on each
// mutation that can change effective permissions resolves with the Impact it would have — who
// would gain and lose which permissions where — and writes nothing (no revision, no audit event);
// a dry run the real request would refuse answers that refusal; at most 1,000 changes are listed,
// with the total.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, wire, type ChangeOptions, type Client, type Impact, type ImpactChange, type MutationResult } from "../src/index.js";
import { Daemon } from "./daemon.js";
import { rejectsWith } from "./expect.js";

let daemon: Daemon;
let gh: Client;

const MANAGE = ["service_accounts.manage", "service_accounts.read", "roles.manage", "users.manage", "audit.read"];
const ids = { msp: 0n, north: 0n, alice: 0n, nadia: 0n, ops: 0n, u1: 0n, u2: 0n, u3: 0n, bot: 0n };
const asAlice = () => ({ actor: ids.alice, company: ids.msp });
const asNadia = () => ({ actor: ids.nadia, company: ids.north });
const dryRun = { dryRun: true } as const;

before(async () => {
  daemon = await Daemon.start();
  gh = await connect({ socket: daemon.socket, timeoutMs: 60_000 });
  await gh.definePermissions(["routers.read", "routers.reboot", ...MANAGE]);
  ids.msp = (await gh.createCompany({ name: "msp" })).id;
  ids.north = (await gh.createCompany({ name: "north" })).id;
  ids.alice = (await gh.createUser({ name: "alice" })).id;
  ids.nadia = (await gh.createUser({ name: "nadia" })).id;
  await gh.setGrant({ principal: ids.alice, company: ids.msp, permissions: [...MANAGE, "routers.read", "routers.reboot"] });
  await gh.setGrant({ principal: ids.nadia, company: ids.north, permissions: [...MANAGE, "routers.read"] });
  ids.ops = (await gh.createRole({ company: ids.north, name: "ops", permissions: ["routers.read"] })).id;
  for (const name of ["u1", "u2", "u3"] as const) ids[name] = (await gh.createUser({ name })).id;
  await gh.setGrant({ principal: ids.u1, company: ids.north, roles: [ids.ops] });
  await gh.setGrant({ principal: ids.u2, company: ids.north, roles: [ids.ops] });
  ids.bot = (await gh.saCreate(asAlice(), { name: "bot", permissions: ["routers.read"] })).id;
  await gh.saShare(asAlice(), { serviceAccount: ids.bot, company: ids.north });
  await gh.saGrant(asNadia(), { principal: ids.bot, permissions: ["routers.read"] });
});

after(async () => {
  await gh?.close();
  await daemon?.dispose();
});

const change = (principal: bigint, company: bigint, gained: string[], lost: string[]): ImpactChange => ({
  principal,
  company,
  gained,
  lost,
});

// Checked by tsc, never run: the result type follows the option, and only the mutations that can
// be previewed take it.
export function resultTypes(c: Client, flag: boolean): void {
  const preview: Promise<Impact> = c.removeGrant({ principal: 1, company: 1 }, { dryRun: true });
  const commit: Promise<MutationResult> = c.removeGrant({ principal: 1, company: 1 }, { timeoutMs: 5 });
  const plain: Promise<MutationResult> = c.saRevoke({ actor: 1, company: 1 }, { serviceAccount: 1 });
  const either: Promise<Impact | MutationResult> = c.removeGrant({ principal: 1, company: 1 }, { dryRun: flag });
  const no: Promise<MutationResult> = c.removeGrant({ principal: 1, company: 1 }, { dryRun: false, timeoutMs: 5 });
  const options: ChangeOptions = { dryRun: flag };
  // @ts-expect-error a ChangeOptions value may hold dryRun: true, so this may be an Impact
  const unknown: Promise<MutationResult> = c.removeGrant({ principal: 1, company: 1 }, options);
  // @ts-expect-error createCompany cannot be previewed
  void c.createCompany({ name: "x" }, { dryRun: true });
  void [preview, commit, plain, either, no, unknown];
}

// The store's revision and its newest audit event: a dry run moves neither.
async function state(): Promise<[bigint, bigint]> {
  const revision = (await gh.hello()).revision;
  const newest = (await gh.auditList({ actor: 0, company: 0 }, { limit: 1 })).events[0]?.sequence ?? 0n;
  return [revision, newest];
}

describe("dry runs", () => {
  test("a preview answers who would gain and lose what, and writes nothing", async () => {
    const [revision, newest] = await state();
    const impact: Impact = await gh.updateRole({ role: ids.ops, permissions: ["routers.reboot"] }, dryRun);
    assert.deepEqual(impact.changes, [
      change(ids.u1, ids.north, ["routers.reboot"], ["routers.read"]),
      change(ids.u2, ids.north, ["routers.reboot"], ["routers.read"]),
    ]);
    assert.equal(impact.total, 2);
    assert.ok(impact.revision > revision, "the revision it would have been committed at");
    assert.deepEqual(await state(), [revision, newest]);
    const still = await gh.authorize({ principal: ids.u1, company: ids.north, permission: "routers.read" });
    assert.equal(still.allowed, true);
    assert.deepEqual((await gh.listRoles({ company: ids.north })).roles.find((r) => r.id === ids.ops)?.permissions, ["routers.read"]);

    // The same call without dryRun (or with dryRun: false) commits, and answers a MutationResult.
    const committed: MutationResult = await gh.updateRole({ role: ids.ops, permissions: ["routers.read"], rename: "ops2" }, { dryRun: false });
    assert.ok(committed.revision > revision);
    const renamed: MutationResult = await gh.updateRole({ role: ids.ops, permissions: ["routers.read"], rename: "ops" });
    assert.ok(renamed.revision > committed.revision);
  });

  test("every mutation that can change effective permissions may be previewed", async () => {
    const [revision, newest] = await state();
    const north = ids.north;
    const read = ["routers.read"];
    const everywhere = [change(ids.bot, ids.msp, [], read), change(ids.bot, north, [], read)];
    const previews: [string, Promise<Impact>, ImpactChange[]][] = [
      // The system context.
      ["setGrant", gh.setGrant({ principal: ids.u3, company: north, permissions: read }, dryRun), [change(ids.u3, north, read, [])]],
      ["removeGrant", gh.removeGrant({ principal: ids.u1, company: north }, dryRun), [change(ids.u1, north, [], read)]],
      ["setPrincipalState", gh.setPrincipalState({ principal: ids.u2, state: "disabled" }, dryRun), [change(ids.u2, north, [], read)]],
      ["deletePrincipal", gh.deletePrincipal({ principal: ids.u1 }, dryRun), [change(ids.u1, north, [], read)]],
      ["createRole", gh.createRole({ company: north, name: "new", permissions: read }, dryRun), []],
      ["updateRole", gh.updateRole({ role: ids.ops, permissions: [] }, dryRun), [change(ids.u1, north, [], read), change(ids.u2, north, [], read)]],
      ["deleteRole", gh.deleteRole({ role: ids.ops }, dryRun), [change(ids.u1, north, [], read), change(ids.u2, north, [], read)]],
      // For an actor.
      ["saGrant", gh.saGrant(asNadia(), { principal: ids.bot, permissions: [] }, dryRun), [change(ids.bot, north, [], read)]],
      ["saRevoke", gh.saRevoke(asNadia(), { serviceAccount: ids.bot }, dryRun), [change(ids.bot, north, [], read)]],
      ["saDelete", gh.saDelete(asAlice(), { serviceAccount: ids.bot }, dryRun), everywhere],
      ["saSetState", gh.saSetState(asAlice(), { principal: ids.bot, state: "disabled" }, dryRun), everywhere],
      ["saUnshare", gh.saUnshare(asAlice(), { serviceAccount: ids.bot, company: north }, dryRun), [change(ids.bot, north, [], read)]],
      ["saSetCeiling", gh.saSetCeiling(asAlice(), { serviceAccount: ids.bot, permissions: [] }, dryRun), [change(ids.bot, north, [], read)]],
      ["roleCreate", gh.roleCreate(asNadia(), { name: "viewers", permissions: read }, dryRun), []],
      ["roleEdit", gh.roleEdit(asNadia(), { role: ids.ops, permissions: [...read, "audit.read"] }, dryRun), [
        change(ids.u1, north, ["audit.read"], []),
        change(ids.u2, north, ["audit.read"], []),
      ]],
      ["roleDelete", gh.roleDelete(asNadia(), { role: ids.ops }, dryRun), [change(ids.u1, north, [], read), change(ids.u2, north, [], read)]],
      ["userGrant", gh.userGrant(asNadia(), { principal: ids.u3, permissions: read }, dryRun), [change(ids.u3, north, read, [])]],
      ["userRevoke", gh.userRevoke(asNadia(), { user: ids.u2 }, dryRun), [change(ids.u2, north, [], read)]],
    ];
    for (const [what, preview, expected] of previews) {
      const impact = await preview;
      assert.deepEqual(impact.changes, expected, what);
      assert.equal(impact.total, expected.length, what);
    }
    assert.deepEqual(await state(), [revision, newest], "nothing written, nothing audited");
  });

  test("accepting a transfer with dropAccess previews the former owner's loss", async () => {
    await gh.saOfferOwnership(asAlice(), { serviceAccount: ids.bot, company: ids.north, dropAccess: true });
    const [revision] = await state();
    const impact = await gh.saAcceptOwnership(asNadia(), { serviceAccount: ids.bot }, dryRun);
    assert.deepEqual(impact.changes, [change(ids.bot, ids.msp, [], ["routers.read"])]);
    assert.equal((await gh.hello()).revision, revision);
    assert.equal((await gh.saShow(asAlice(), { serviceAccount: ids.bot })).rows[0]?.relation, "owned");
    await gh.saCancelTransfer(asAlice(), { serviceAccount: ids.bot });
  });

  test("a dry run the real request would refuse answers that refusal", async () => {
    const escalation = await rejectsWith(
      gh.saGrant(asNadia(), { principal: ids.bot, permissions: ["routers.read", "routers.reboot"] }, dryRun),
      "escalation",
    );
    assert.deepEqual(escalation.missing, ["routers.reboot"]);
    await rejectsWith(gh.saDelete(asNadia(), { serviceAccount: ids.bot }, dryRun), "notOwner");
    await rejectsWith(gh.updateRole({ role: 999_999n, permissions: [] }, dryRun), "notFound");
    await rejectsWith(gh.setGrant({ principal: ids.u3, company: ids.north, expiresAt: 1 }, dryRun), "invalidArgument");
    const forbidden = await rejectsWith(gh.roleDelete({ actor: ids.u1, company: ids.north }, { role: ids.ops }, dryRun), "forbidden");
    assert.deepEqual(forbidden.missing, ["roles.manage"]);

    // Other mutations have no dryRun option; the daemon refuses the flag on them before queueing.
    const raw = await gh.request((r) => {
      r.dryRun = true;
      r._initCreateCompany().name = "preview";
    });
    assert.equal(raw.error.code, wire.ErrorCode.INVALID_ARGUMENT);
    assert.match(raw.error.message, /dryRun: createCompany cannot be previewed/);
    assert.equal((await gh.lookup({ kind: "company", name: "preview" })).found, false);
  });

  test("at most 1,000 changes are listed, ascending, with the total", async () => {
    const holders = 1_005;
    const role = (await gh.createRole({ company: ids.msp, name: "many", permissions: ["routers.read"] })).id;
    const users = await Promise.all(Array.from({ length: holders }, (_, i) => gh.createUser({ name: `holder-${i}` })));
    await Promise.all(users.map((u) => gh.setGrant({ principal: u.id, company: ids.msp, roles: [role] })));
    const impact = await gh.deleteRole({ role }, dryRun);
    assert.equal(impact.total, holders);
    assert.equal(impact.changes.length, 1_000);
    const principals = impact.changes.map((c) => c.principal);
    assert.deepEqual(principals, users.map((u) => u.id).sort((a, b) => (a < b ? -1 : 1)).slice(0, 1_000));
    assert.ok(impact.changes.every((c) => c.company === ids.msp && c.lost.join() === "routers.read" && c.gained.length === 0));
  });
});
