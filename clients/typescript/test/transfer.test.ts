// Ownership transfer (docs/service-accounts.md, "Transfer") against the real daemon: the owner
// offers (saOfferOwnership), the company offered accepts (saAcceptOwnership) or declines, either
// side cancels (saCancelTransfer); the view's ownershipOfferedTo, ownershipOffered and actions;
// what acceptance does (keys revoked, ceiling removed, the former owner's grant kept or dropped);
// and each refusal.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, type ActorContext, type Client, type SaRow } from "../src/index.js";
import { Daemon } from "./daemon.js";
import { rejectsWith } from "./expect.js";

let daemon: Daemon;
let gh: Client;

const ids = { msp: 0n, north: 0n, south: 0n, alice: 0n, nadia: 0n, sam: 0n, eve: 0n };
const asAlice = () => ({ actor: ids.alice, company: ids.msp });
const asNadia = () => ({ actor: ids.nadia, company: ids.north });
const asSam = () => ({ actor: ids.sam, company: ids.south });
const asEve = () => ({ actor: ids.eve, company: ids.north });

before(async () => {
  daemon = await Daemon.start();
  gh = await connect({ socket: daemon.socket, timeoutMs: 30_000 });
  const manage = ["service_accounts.manage", "service_accounts.read", "audit.read"];
  await gh.definePermissions(["routers.read", "routers.reboot", ...manage]);
  ids.msp = (await gh.createCompany({ name: "msp" })).id;
  ids.north = (await gh.createCompany({ name: "north" })).id;
  ids.south = (await gh.createCompany({ name: "south" })).id;
  for (const [name, company] of [["alice", ids.msp], ["nadia", ids.north], ["sam", ids.south]] as const) {
    const user = (await gh.createUser({ name })).id;
    ids[name] = user;
    await gh.setGrant({ principal: user, company, permissions: [...manage, "routers.read"] });
  }
  ids.eve = (await gh.createUser({ name: "eve" })).id;
  await gh.setGrant({ principal: ids.eve, company: ids.north, permissions: ["service_accounts.read", "routers.read"] });
});

after(async () => {
  await gh?.close();
  await daemon?.dispose();
});

async function rowOf(as: ActorContext, serviceAccount: bigint): Promise<SaRow> {
  const row = (await gh.saShow(as, { serviceAccount })).rows[0];
  assert.ok(row, `saShow ${serviceAccount}`);
  return row;
}

// An account of msp, shared with and granted in north, with a ceiling; its first key.
async function mspBot(name: string): Promise<{ bot: bigint; secret: string }> {
  const created = await gh.saCreate(asAlice(), { name, permissions: ["routers.read"] });
  await gh.saShare(asAlice(), { serviceAccount: created.id, company: ids.north });
  await gh.saGrant(asNadia(), { principal: created.id, permissions: ["routers.read"] });
  await gh.saSetCeiling(asAlice(), { serviceAccount: created.id, permissions: ["routers.read"] });
  return { bot: created.id, secret: created.secret };
}

describe("ownership transfer", () => {
  test("offered, declined, offered again and accepted: the owner changes, keys and ceiling go", async () => {
    const { bot, secret } = await mspBot("noc-bot");
    const second = await gh.saKeyCreate(asAlice(), { serviceAccount: bot });

    // Offered to south, unrelated until now: it sees the row and may accept, not grant itself.
    await gh.saOfferOwnership(asAlice(), { serviceAccount: bot, company: ids.south });
    const offered = await rowOf(asSam(), bot);
    assert.deepEqual(
      [offered.relation, offered.ownershipOffered, offered.hasAccess, offered.ownershipOfferedTo],
      ["external", true, false, null],
    );
    assert.deepEqual([offered.actions.acceptOwnership, offered.actions.transfer, offered.actions.editPermissions], [true, false, false]);
    await rejectsWith(gh.saGrant(asSam(), { principal: bot, permissions: ["routers.read"] }), "notFound");
    const owner = await rowOf(asAlice(), bot);
    assert.deepEqual([owner.ownershipOfferedTo, owner.ownershipOffered], [{ id: ids.south, name: "south" }, false]);
    assert.deepEqual([owner.actions.transfer, owner.actions.acceptOwnership], [true, false]);

    // Declined by south; then offered to north.
    await rejectsWith(gh.saCancelTransfer(asNadia(), { serviceAccount: bot }), "notOwner"); // a third party
    await gh.saCancelTransfer(asSam(), { serviceAccount: bot });
    await rejectsWith(gh.saAcceptOwnership(asSam(), { serviceAccount: bot }), "notFound");
    assert.equal((await rowOf(asAlice(), bot)).ownershipOfferedTo, null);
    await gh.saOfferOwnership(asAlice(), { serviceAccount: bot, company: ids.north });
    assert.deepEqual((await rowOf(asAlice(), bot)).ownershipOfferedTo, { id: ids.north, name: "north" });
    const northBefore = await rowOf(asNadia(), bot);
    assert.deepEqual([northBefore.ownershipOffered, northBefore.actions.acceptOwnership], [true, true]);
    await rejectsWith(gh.saAcceptOwnership(asSam(), { serviceAccount: bot }), "notFound"); // unrelated again
    const forbidden = await rejectsWith(gh.saAcceptOwnership(asEve(), { serviceAccount: bot }), "forbidden");
    assert.deepEqual(forbidden.missing, ["service_accounts.manage"]);

    // Accepted by north: both keys revoked, the ceiling gone, msp keeps its grant as an external
    // company with an offer.
    const accepted = await gh.saAcceptOwnership(asNadia(), { serviceAccount: bot });
    assert.equal(accepted.count, 2);
    for (const key of [secret, second.secret]) assert.equal((await gh.checkCredential({ credential: key })).refusal, "keyRevoked");
    const owned = await rowOf(asNadia(), bot);
    assert.deepEqual(
      [owned.relation, owned.ownerCompany, owned.ownerCompanyName, owned.hasCeiling, owned.ownershipOffered, owned.ownershipOfferedTo],
      ["owned", ids.north, "north", false, false, null],
    );
    assert.deepEqual(owned.offeredTo, [{ id: ids.msp, name: "msp" }]);
    const former = await rowOf(asAlice(), bot);
    assert.deepEqual([former.relation, former.hasAccess, former.offered, former.actions.transfer], ["external", true, true, false]);
    await rejectsWith(gh.saDelete(asAlice(), { serviceAccount: bot }), "notOwner");
    const fresh = await gh.saResetCredentials(asNadia(), { serviceAccount: bot });
    for (const company of [ids.msp, ids.north]) {
      const access = await gh.checkAccess({ credential: fresh.secret, company, permission: "routers.read" });
      assert.equal(access.allowed, true, `company ${company}`);
    }
    const audited = (as: ActorContext) =>
      gh.auditList(as, { limit: 20 }).then((p) => p.events.some((e) => e.operation === "saAcceptOwnership" && e.outcome === "ok"));
    assert.deepEqual([await audited(asNadia()), await audited(asAlice()), await audited(asSam())], [true, true, false]);

    // Back to msp with dropAccess: north's own grant goes at acceptance, and with it any relation.
    await gh.saOfferOwnership(asNadia(), { serviceAccount: bot, company: ids.msp, dropAccess: true });
    await gh.saAcceptOwnership(asAlice(), { serviceAccount: bot });
    await rejectsWith(gh.saShow(asNadia(), { serviceAccount: bot }), "notFound");
    const back = await rowOf(asAlice(), bot);
    assert.deepEqual([back.relation, back.ownerCompany], ["owned", ids.msp]);
    const noAccess = await gh.checkAccess({ credential: fresh.secret, company: ids.north, permission: "routers.read" });
    assert.deepEqual([noAccess.allowed, noAccess.credential], [false, "keyRevoked"]);
  });

  test("a new offer replaces the pending one, and the owner may withdraw it", async () => {
    const { bot } = await mspBot("backup-bot");
    await gh.saOfferOwnership(asAlice(), { serviceAccount: bot, company: ids.north });
    await gh.saOfferOwnership(asAlice(), { serviceAccount: bot, company: ids.south });
    assert.deepEqual((await rowOf(asAlice(), bot)).ownershipOfferedTo, { id: ids.south, name: "south" });
    await rejectsWith(gh.saAcceptOwnership(asNadia(), { serviceAccount: bot }), "notFound");
    assert.equal((await rowOf(asNadia(), bot)).actions.acceptOwnership, false);
    await gh.saCancelTransfer(asAlice(), { serviceAccount: bot });
    await rejectsWith(gh.saShow(asSam(), { serviceAccount: bot }), "notFound");
    await rejectsWith(gh.saCancelTransfer(asAlice(), { serviceAccount: bot }), "notFound");
  });

  test("refusals: not the owner, unrelated, the owner itself, no such company, no permission", async () => {
    const { bot } = await mspBot("fleet-bot");
    await rejectsWith(gh.saOfferOwnership(asNadia(), { serviceAccount: bot, company: ids.south }), "notOwner");
    const unrelated = await rejectsWith(gh.saOfferOwnership(asSam(), { serviceAccount: bot, company: ids.south }), "notFound");
    assert.match(unrelated.message, new RegExp(`no service account with id ${bot}`));
    await rejectsWith(gh.saOfferOwnership(asAlice(), { serviceAccount: bot, company: ids.msp }), "invalidArgument");
    await rejectsWith(gh.saOfferOwnership(asAlice(), { serviceAccount: bot, company: 999_999n }), "notFound");
    const e = await rejectsWith(gh.saOfferOwnership(asEve(), { serviceAccount: bot, company: ids.north }), "forbidden");
    assert.deepEqual(e.missing, ["service_accounts.manage"]);
    const early = await rejectsWith(gh.saAcceptOwnership(asNadia(), { serviceAccount: bot }), "notFound");
    assert.match(early.message, new RegExp(`service account ${bot} is not offered to company ${ids.north} for ownership`));
    await rejectsWith(gh.saCancelTransfer(asAlice(), { serviceAccount: bot }), "notFound");
    assert.equal((await rowOf(asAlice(), bot)).ownershipOfferedTo, null);
  });
});
