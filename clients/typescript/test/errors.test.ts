// Every error code the client can provoke, each as a GatehouseError with the wire code, the
// daemon's message and (escalation, forbidden, aboveCeiling) the permissions in `missing`.
// `failed` (an internal failure: I/O, corruption) is the one code no request can provoke.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { utils } from "capnp-es";

import { connect, GatehouseError, type Client } from "../src/index.js";
import { Daemon } from "./daemon.js";
import { rejectsWith } from "./expect.js";

let daemon: Daemon;
let gh: Client;
const ids = { msp: 0n, north: 0n, alice: 0n, nadia: 0n, eve: 0n, bot: 0n, northRole: 0n };

before(async () => {
  daemon = await Daemon.start({
    extraToml: 'socket_mode = "0666"\n',
    credentialsToml: "password_ops_limit = 1\npassword_mem_limit_mib = 8\npassword_queue_max = 1\n",
  });
  gh = await connect({ socket: daemon.socket });
  const manage = ["service_accounts.manage", "service_accounts.read", "roles.manage", "users.manage"];
  await gh.definePermissions(["routers.read", "routers.reboot", "audit.read", ...manage]);
  ids.msp = (await gh.createCompany({ name: "msp" })).id;
  ids.north = (await gh.createCompany({ name: "north" })).id;
  ids.alice = (await gh.createUser({ name: "alice" })).id;
  ids.nadia = (await gh.createUser({ name: "nadia" })).id;
  ids.eve = (await gh.createUser({ name: "eve" })).id;
  await gh.setGrant({ principal: ids.alice, company: ids.msp, permissions: [...manage, "routers.read", "routers.reboot", "audit.read"] });
  await gh.setGrant({ principal: ids.nadia, company: ids.north, permissions: [...manage, "routers.read", "audit.read"] });
  await gh.setGrant({ principal: ids.eve, company: ids.north, permissions: ["routers.read"] });
  ids.bot = (await gh.saCreate({ actor: ids.alice, company: ids.msp }, { name: "bot" })).id;
  await gh.saShare({ actor: ids.alice, company: ids.msp }, { serviceAccount: ids.bot, company: ids.north });
  ids.northRole = (await gh.createRole({ company: ids.north, name: "north-ops", permissions: ["routers.read"] })).id;
});

after(async () => {
  await gh?.close();
  await daemon?.dispose();
});

const asAlice = () => ({ actor: ids.alice, company: ids.msp });
const asNadia = () => ({ actor: ids.nadia, company: ids.north });

describe("error codes", () => {
  test("invalidArgument names the field", async () => {
    const e = await rejectsWith(gh.lookup({ kind: "company", name: "" }), "invalidArgument");
    assert.match(e.message, /name/);
    await rejectsWith(gh.definePermissions(["Not A Name"]), "invalidArgument");
    await rejectsWith(gh.checkCredential({ user: "alice", credential: "password", totp: "12" }), "invalidArgument");
  });

  test("notFound, alreadyExists and conflict", async () => {
    await rejectsWith(gh.removeGrant({ principal: ids.alice, company: ids.north }), "notFound");
    await rejectsWith(gh.createCompany({ name: "msp" }), "alreadyExists");
    const southRole = (await gh.createRole({ company: ids.msp, name: "msp-ops", permissions: ["routers.read"] })).id;
    await rejectsWith(gh.setGrant({ principal: ids.eve, company: ids.north, roles: [southRole] }), "conflict");
  });

  test("limitExceeded: a batch over limits.max_batch", async () => {
    const q = { principal: ids.alice, company: ids.msp, permission: "routers.read" };
    await rejectsWith(gh.authorizeBatch(Array.from({ length: 1025 }, () => q)), "limitExceeded");
    assert.equal((await gh.authorizeBatch(Array.from({ length: 1024 }, () => q))).items.length, 1024);
  });

  test("forbidden lists the permission the actor lacks", async () => {
    const e = await rejectsWith(gh.saList({ actor: ids.eve, company: ids.north }), "forbidden");
    assert.deepEqual(e.missing, ["service_accounts.read"]);
  });

  test("escalation lists every permission the actor does not hold", async () => {
    await gh.saGrant(asNadia(), { principal: ids.bot, permissions: ["routers.read"] });
    const e = await rejectsWith(
      gh.saGrant(asNadia(), { principal: ids.bot, permissions: ["routers.read", "routers.reboot"] }),
      "escalation",
    );
    assert.deepEqual(e.missing, ["routers.reboot"]);
  });

  test("aboveCeiling lists the permissions over the owner's ceiling", async () => {
    await gh.saSetCeiling(asAlice(), { serviceAccount: ids.bot, permissions: ["routers.read"] });
    const e = await rejectsWith(
      gh.saGrant(asNadia(), { principal: ids.bot, permissions: ["routers.read", "audit.read"] }),
      "aboveCeiling",
    );
    assert.deepEqual(e.missing, ["audit.read"]);
    await gh.saSetCeiling(asAlice(), { serviceAccount: ids.bot, clear: true });
  });

  test("notOwner: only the owner company may describe, reset or delete", async () => {
    await rejectsWith(gh.saDescribe(asNadia(), { serviceAccount: ids.bot, description: "mine now" }), "notOwner");
    await rejectsWith(gh.saResetCredentials(asNadia(), { serviceAccount: ids.bot }), "notOwner");
    await rejectsWith(gh.saDelete(asNadia(), { serviceAccount: ids.bot }), "notOwner");
    assert.equal((await gh.getPrincipal({ principal: ids.bot })).found, true, "nothing changed");
  });

  test("overloaded: password checks past credentials.password_queue_max", async () => {
    await gh.setPassword({ user: ids.alice, password: "correct horse battery" });
    const checks = Array.from({ length: 6 }, () =>
      gh.checkCredential({ user: "alice", credential: "correct horse battery" }).then(
        (r) => r.accepted,
        (e: unknown) => e,
      ),
    );
    const results = await Promise.all(checks);
    const overloaded = results.filter((r) => r instanceof GatehouseError && r.code === "overloaded");
    assert.ok(overloaded.length >= 1, `results: ${results.map(String).join(", ")}`);
    assert.ok(results.includes(true), "the first check was answered");
  });

  test("unknownRequest: a union member the daemon does not know (through the raw request)", async () => {
    const answer = await gh.request((r) => {
      r.ping = true;
      // The union's discriminant is at byte 8 of Request's data section: a member numbered past
      // every one the schema has, as a newer client would send.
      utils.setUint16(8, 999, r);
    });
    assert.equal(answer.which(), 0); // error
    assert.equal(answer.error.code, 1); // unknownRequest
  });

  test("malformed: a request past the daemon's traversal limit", async () => {
    const strict = await Daemon.start({ extraToml: "[limits]\ntraversal_limit_words = 1024\n" });
    const c = await connect({ socket: strict.socket });
    try {
      const q = { principal: 1, company: 1, permission: "routers.read" };
      await rejectsWith(c.authorizeBatch(Array.from({ length: 1000 }, () => q)), "malformed");
      await c.ping(); // only that request was refused
    } finally {
      await c.close();
      await strict.dispose();
    }
  });

  test("accessDenied: a check-class peer may check but not provision", { skip: process.getuid?.() !== 0 && "needs root to connect as another uid" }, async () => {
    daemon.openDirectory();
    // The client, copied where nobody can read it (this checkout's folders may not admit it).
    const built = dirname(fileURLToPath(import.meta.url));
    const copy = join(daemon.dir, "client");
    cpSync(join(built, "../src"), join(copy, "src"), { recursive: true });
    cpSync(join(built, "../../node_modules/capnp-es"), join(copy, "node_modules/capnp-es"), { recursive: true });
    writeFileSync(join(copy, "package.json"), '{ "type": "module" }\n');
    const index = join(copy, "src/index.js");
    // A child running as nobody (uid 65534: class `check`, the default for others) reports what it saw.
    const script = `
      const { connect } = await import(${JSON.stringify(index)});
      const c = await connect({ socket: ${JSON.stringify(daemon.socket)} });
      const d = await c.authorize({ principal: 1, company: 1, permission: "routers.read" });
      let code = "none";
      try { await c.createCompany({ name: "from-nobody" }); } catch (e) { code = e.code; }
      console.log(JSON.stringify({ checked: typeof d.allowed, code }));
      await c.close();`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { uid: 65534, gid: 65534 });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const status = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(status, 0, err);
    assert.deepEqual(JSON.parse(out), { checked: "boolean", code: "accessDenied" });
    assert.equal((await gh.lookup({ kind: "company", name: "from-nobody" })).found, false);
  });
});
