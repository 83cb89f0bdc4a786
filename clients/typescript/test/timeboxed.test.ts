// Time-boxed grants (docs/protocol.md, "Time-boxed grants") against the real daemon: `expiresAt`
// on setGrant, saGrant and userGrant, shown by getGrant and the Service Accounts view; the grant
// gives nothing from its second on and is removed by the writer, audited as `grantExpired`; an
// expiry that is not in the future, or after 9999, is refused and changes nothing.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";

import { connect, type Client } from "../src/index.js";
import { Daemon } from "./daemon.js";
import { rejectsWith } from "./expect.js";

let daemon: Daemon;
let gh: Client;

const ids = { msp: 0n, north: 0n, alice: 0n, nadia: 0n, tech: 0n, ned: 0n, bot: 0n };
const asAlice = () => ({ actor: ids.alice, company: ids.msp });
const asNadia = () => ({ actor: ids.nadia, company: ids.north });
const MAX_EXPIRY = 253402300799n; // 9999-12-31T23:59:59Z

const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));

before(async () => {
  daemon = await Daemon.start();
  gh = await connect({ socket: daemon.socket, timeoutMs: 30_000 });
  const manage = ["service_accounts.manage", "service_accounts.read", "users.manage", "audit.read"];
  await gh.definePermissions(["routers.read", "routers.reboot", ...manage]);
  ids.msp = (await gh.createCompany({ name: "msp" })).id;
  ids.north = (await gh.createCompany({ name: "north" })).id;
  ids.alice = (await gh.createUser({ name: "alice" })).id;
  ids.nadia = (await gh.createUser({ name: "nadia" })).id;
  ids.tech = (await gh.createUser({ name: "tech" })).id;
  await gh.setGrant({ principal: ids.alice, company: ids.msp, permissions: [...manage, "routers.read"] });
  await gh.setGrant({ principal: ids.nadia, company: ids.north, permissions: [...manage, "routers.read"] });
  ids.ned = (await gh.userCreate(asNadia(), { name: "ned" })).id;
  ids.bot = (await gh.saCreate(asAlice(), { name: "noc-bot", permissions: ["routers.read"] })).id;
  await gh.saShare(asAlice(), { serviceAccount: ids.bot, company: ids.north });
});

after(async () => {
  await gh?.close();
  await daemon?.dispose();
});

describe("time-boxed grants", () => {
  test("setGrant, saGrant and userGrant grants end by themselves at expiresAt", async () => {
    const until = nowSeconds() + 2n;
    await gh.setGrant({ principal: ids.tech, company: ids.north, permissions: ["routers.read"], expiresAt: until });
    await gh.saGrant(asNadia(), { principal: ids.bot, permissions: ["routers.read"], expiresAt: until });
    await gh.userGrant(asNadia(), { principal: ids.ned, permissions: ["routers.read"], expiresAt: Number(until) });
    const principals = [ids.tech, ids.bot, ids.ned];
    const check = (principal: bigint) => gh.authorize({ principal, company: ids.north, permission: "routers.read" });

    for (const principal of principals) {
      assert.equal((await check(principal)).allowed, true, `principal ${principal} before the expiry`);
      const grant = await gh.getGrant({ principal, company: ids.north });
      assert.deepEqual([grant.found, grant.permissions, grant.expiresAt], [true, ["routers.read"], until]);
    }
    const row = (await gh.saShow(asNadia(), { serviceAccount: ids.bot })).rows[0];
    assert.deepEqual([row?.hasAccess, row?.expiresAt, row?.offered], [true, until, true]);
    assert.deepEqual((await gh.listPermissions({ principal: ids.tech, company: ids.north })).names, ["routers.read"]);

    // From the second it names on, the grant gives nothing, whether or not the writer has removed
    // it yet.
    await sleep(Number(until) * 1000 - Date.now() + 50);
    for (const principal of principals) {
      const d = await check(principal);
      assert.deepEqual([d.allowed, d.reason], [false, "noAccess"], `principal ${principal} after the expiry`);
      const grant = await gh.getGrant({ principal, company: ids.north });
      assert.deepEqual([grant.found, grant.expiresAt], [false, 0n]);
    }
    const gone = await gh.listPermissions({ principal: ids.ned, company: ids.north });
    assert.deepEqual([gone.found, gone.reason], [false, "noAccess"]);
    const offeredAgain = (await gh.saShow(asNadia(), { serviceAccount: ids.bot })).rows[0];
    assert.deepEqual([offeredAgain?.hasAccess, offeredAgain?.expiresAt, offeredAgain?.offered], [false, 0n, true]);

    // The writer removes them within about a second, audited as done by the system.
    const expected = principals.map((p) => `principal ${p} in company ${ids.north}`).sort();
    let targets: string[] = [];
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(100)) {
      const page = await gh.auditList({ actor: 0, company: 0 }, { limit: 50 });
      const expired = page.events.filter((e) => e.operation === "grantExpired");
      assert.ok(expired.every((e) => e.actor === 0n && e.outcome === "ok"), JSON.stringify(expired, (_, v) => String(v)));
      targets = expired.map((e) => e.target).sort();
      if (targets.length >= expected.length) break;
    }
    assert.deepEqual(targets, expected);
    assert.ok(!(await gh.getPrincipal({ principal: ids.ned })).companies.includes(ids.north));
  });

  test("a grant request without expiresAt makes the grant permanent again", async () => {
    const until = nowSeconds() + 3600n;
    await gh.setGrant({ principal: ids.tech, company: ids.msp, permissions: ["routers.read"], expiresAt: until });
    assert.equal((await gh.getGrant({ principal: ids.tech, company: ids.msp })).expiresAt, until);
    await gh.setGrant({ principal: ids.tech, company: ids.msp, permissions: ["routers.read"] });
    assert.equal((await gh.getGrant({ principal: ids.tech, company: ids.msp })).expiresAt, 0n);
    await gh.saGrant(asAlice(), { principal: ids.bot, permissions: ["routers.read"], expiresAt: MAX_EXPIRY });
    const row = (await gh.saShow(asAlice(), { serviceAccount: ids.bot })).rows[0];
    assert.deepEqual([row?.relation, row?.expiresAt], ["owned", MAX_EXPIRY]);
    await gh.saGrant(asAlice(), { principal: ids.bot, permissions: ["routers.read"], expiresAt: 0 });
    assert.equal((await gh.saShow(asAlice(), { serviceAccount: ids.bot })).rows[0]?.expiresAt, 0n);
  });

  test("an expiry in the past or after 9999 is invalidArgument, and nothing changes", async () => {
    await gh.setGrant({ principal: ids.tech, company: ids.msp, permissions: ["routers.read"] });
    const past = nowSeconds() - 60n;
    const e = await rejectsWith(
      gh.setGrant({ principal: ids.tech, company: ids.msp, permissions: ["routers.reboot"], expiresAt: past }),
      "invalidArgument",
    );
    assert.match(e.message, new RegExp(`expiresAt: ${past} is not in the future`));
    const late = await rejectsWith(
      gh.setGrant({ principal: ids.tech, company: ids.msp, permissions: ["routers.reboot"], expiresAt: MAX_EXPIRY + 1n }),
      "invalidArgument",
    );
    assert.match(late.message, /after 9999-12-31T23:59:59Z/);
    const unchanged = await gh.getGrant({ principal: ids.tech, company: ids.msp });
    assert.deepEqual([unchanged.permissions, unchanged.expiresAt], [["routers.read"], 0n]);

    await rejectsWith(gh.saGrant(asNadia(), { principal: ids.bot, permissions: ["routers.read"], expiresAt: 1 }), "invalidArgument");
    await rejectsWith(gh.userGrant(asNadia(), { principal: ids.ned, permissions: ["routers.read"], expiresAt: past }), "invalidArgument");
    assert.equal((await gh.getGrant({ principal: ids.bot, company: ids.north })).found, false);
    assert.equal((await gh.getGrant({ principal: ids.ned, company: ids.north })).found, false);

    // Outside UInt64: refused by the client before anything is sent.
    await assert.rejects(gh.setGrant({ principal: ids.tech, company: ids.msp, expiresAt: -1 }), RangeError);
  });
});
