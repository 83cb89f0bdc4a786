// The connection's contract against the real daemon: pipelining with ids matched to answers,
// back-pressure, timeouts, reconnection after a restart or a crash under load, and never a resend.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setImmediate as tick, setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";

import { connect, GatehouseConnectionError, GatehouseError, type Client } from "../src/index.js";
import { Daemon } from "./daemon.js";
import { failsWith } from "./expect.js";

let daemon: Daemon;
let gh: Client;
const ids = { company: 0n, reader: 0n, rebooter: 0n };

before(async () => {
  daemon = await Daemon.start();
  gh = await connect({ socket: daemon.socket });
  await gh.definePermissions(["routers.read", "routers.reboot"]);
  ids.company = (await gh.createCompany({ name: "acme" })).id;
  ids.reader = (await gh.createUser({ name: "reader" })).id;
  ids.rebooter = (await gh.createUser({ name: "rebooter" })).id;
  await gh.setGrant({ principal: ids.reader, company: ids.company, permissions: ["routers.read"] });
  await gh.setGrant({ principal: ids.rebooter, company: ids.company, permissions: ["routers.read", "routers.reboot"] });
});

after(async () => {
  gh?.destroy();
  await daemon?.dispose();
});

type Graph = typeof ids;

// Check i asks whether `reader` may reboot (no) or `rebooter` may (yes): answers tell them apart.
function check(c: Client, i: number, g: Graph = ids) {
  const principal = i % 2 === 0 ? g.rebooter : g.reader;
  return c.authorize({ principal, company: g.company, permission: "routers.reboot" });
}

// SIGSTOP stops a process thread by thread: until the last has stopped, an IO thread woken by a
// request may still answer it. So wait until every thread is stopped ("T" in /proc).
function pause(d: Daemon): void {
  process.kill(d.pid!, "SIGSTOP");
  const deadline = Date.now() + 10_000;
  while (!allStopped(d.pid!)) {
    if (Date.now() > deadline) throw new Error(`the daemon (pid ${d.pid}) did not stop`);
  }
}

function allStopped(pid: number): boolean {
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8");
    if (stat[stat.lastIndexOf(")") + 2] !== "T") return false; // the state, after "pid (comm) "
  }
  return true;
}

function resume(d: Daemon): void {
  process.kill(d.pid!, "SIGCONT");
}

describe("pipelining", () => {
  test("10,000 checks on one connection, each answer matched to its call", async () => {
    const calls = Array.from({ length: 10_000 }, (_, i) => check(gh, i));
    // Mutations answered after their commit, so after later checks: answers out of order.
    const writes = Array.from({ length: 20 }, (_, i) => gh.createCompany({ name: `pipelined-${i}` }));
    const answers = await Promise.all(calls);
    answers.forEach((a, i) => {
      assert.equal(a.allowed, i % 2 === 0, `check ${i}`);
      assert.equal(a.reason, i % 2 === 0 ? "none" : "notGranted", `check ${i}`);
    });
    const created = await Promise.all(writes);
    assert.equal(new Set(created.map((m) => m.id)).size, 20);
    assert.equal(gh.inFlight, 0);
  });

  test("checks made in one turn of the event loop go out together, and the answers come back", async () => {
    const c = await connect({ socket: daemon.socket });
    const start = process.hrtime.bigint();
    const answers = await Promise.all(Array.from({ length: 2_000 }, (_, i) => check(c, i)));
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.equal(answers.filter((a) => a.allowed).length, 1_000);
    assert.ok(ms < 5_000, `${ms} ms`);
    await c.close();
  });
});

describe("back-pressure", () => {
  test("while the daemon reads nothing, requests wait in the client's queue, up to its bound", async () => {
    const c = await connect({ socket: daemon.socket, timeoutMs: 0, maxQueuedBytes: 256 << 10 });
    pause(daemon);
    const pending: Promise<unknown>[] = [];
    let full: GatehouseConnectionError | undefined;
    try {
      // Until the socket is full (write() returned false) and the client's queue at its bound.
      for (let round = 0; round < 400 && full === undefined; round++) {
        for (let i = 0; i < 1_000; i++) {
          pending.push(
            check(c, i).catch((e: unknown) => {
              if (e instanceof GatehouseConnectionError && e.reason === "queueFull") full = e;
              else throw e;
            }),
          );
        }
        await tick();
      }
      assert.ok(full !== undefined, "the queue never filled");
      assert.equal(full.sent, false);
      assert.match(full.message, /maxQueuedBytes/);
      assert.equal(c.writable, false);
    } finally {
      resume(daemon);
    }
    await c.drained();
    await Promise.all(pending); // every request that was taken is answered
    assert.equal(c.inFlight, 0);
    assert.equal(c.writable, true);
    await c.close();
  });
});

describe("timeouts", () => {
  test("a call with no answer in time fails; its late answer is dropped; the connection goes on", async () => {
    const c = await connect({ socket: daemon.socket, timeoutMs: 5_000 });
    pause(daemon);
    let late: Promise<unknown>;
    try {
      late = check(c, 0); // within the client's 5 s
      const timedOut = await failsWith(c.authorize({ principal: ids.reader, company: ids.company, permission: "routers.read" }, { timeoutMs: 200 }), "timeout");
      assert.equal(timedOut.sent, true);
      assert.match(timedOut.message, /within 200 ms.*not resent/);
    } finally {
      resume(daemon);
    }
    await late!;
    // The answer to the call that timed out arrives and matches nothing; the next calls are right.
    const answers = await Promise.all([check(c, 0), check(c, 1), check(c, 2)]);
    assert.deepEqual(answers.map((a) => a.allowed), [true, false, true]);
    assert.equal(c.inFlight, 0);
    await c.close();
  });

  test("a call that cannot be sent in time fails as not sent", async () => {
    const d = await Daemon.start();
    const c = await connect({ socket: d.socket, reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    try {
      await d.crash();
      await waitFor(() => !c.writable);
      const e = await failsWith(c.ping({ timeoutMs: 300 }), "timeout");
      assert.equal(e.sent, false);
      assert.match(e.message, /reconnecting.*nothing was sent/);
    } finally {
      c.destroy();
      await d.dispose();
    }
  });
});

describe("connecting and closing", () => {
  test("a socket that is not there: a clear error naming it", async () => {
    const path = join(daemon.dir, "no-such.sock");
    const e = await failsWith(connect({ socket: path }), "connect");
    assert.match(e.message, new RegExp(`cannot connect to ${path}: ENOENT \\(is gatehoused running\\?\\)`));
  });

  test("close() waits for the calls made, then refuses new ones", async () => {
    const c = await connect({ socket: daemon.socket });
    const calls = Array.from({ length: 100 }, (_, i) => check(c, i));
    const closing = c.close();
    await failsWith(c.ping(), "closed");
    assert.equal((await Promise.all(calls)).length, 100);
    await closing;
  });

  test("destroy() fails the calls not yet answered", async () => {
    const c = await connect({ socket: daemon.socket });
    const call = c.createCompany({ name: "never-sent" });
    c.destroy();
    const e = await failsWith(call, "closed");
    assert.equal(e.sent, false);
    assert.equal((await gh.lookup({ kind: "company", name: "never-sent" })).found, false);
  });

  test("with reconnect off, a broken connection stays broken", async () => {
    const d = await Daemon.start();
    const c = await connect({ socket: d.socket, reconnect: false });
    try {
      await d.stop();
      await waitFor(() => !c.writable);
      const e = await failsWith(c.ping(), "disconnected");
      assert.equal(e.sent, false);
      await d.start();
      await failsWith(c.ping(), "disconnected");
    } finally {
      c.destroy();
      await d.dispose();
    }
  });
});

interface LoadResult {
  answered: number;
  disconnected: GatehouseConnectionError[];
  other: unknown[];
  created: string[]; // names whose createCompany succeeded
  uncertain: string[]; // names whose createCompany failed after it was sent
}

// Checks pipelined 64 at a time and a stream of createCompany, until `stop` resolves.
async function load(c: Client, g: Graph, stop: Promise<void>, prefix: string): Promise<LoadResult> {
  const result: LoadResult = { answered: 0, disconnected: [], other: [], created: [], uncertain: [] };
  let done = false;
  void stop.then(() => (done = true));
  const record = (e: unknown) => {
    if (e instanceof GatehouseConnectionError && e.reason === "disconnected") result.disconnected.push(e);
    else result.other.push(e);
  };
  const checks = (async () => {
    while (!done) {
      const batch = Array.from({ length: 64 }, (_, i) => check(c, i, g).then(() => result.answered++, record));
      await Promise.all(batch);
    }
  })();
  const writes = (async () => {
    for (let i = 0; !done; i++) {
      const name = `${prefix}-${i}`;
      await c.createCompany({ name }).then(
        () => result.created.push(name),
        (e: unknown) => {
          record(e);
          if (e instanceof GatehouseConnectionError && e.sent) result.uncertain.push(name);
        },
      );
    }
  })();
  await Promise.all([checks, writes]);
  return result;
}

async function waitFor(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(5);
  }
}

describe("a daemon restarted under load", () => {
  for (const how of ["restarted (SIGTERM)", "killed (SIGKILL)"] as const) {
    test(`${how}: calls in flight fail as possibly applied, none is resent, the client reconnects`, async () => {
      const d = await Daemon.start();
      const c = await connect({ socket: d.socket, timeoutMs: 15_000, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
      const events: string[] = [];
      c.on("disconnected", () => events.push("disconnected"));
      c.on("reconnected", () => events.push("reconnected"));
      try {
        await c.definePermissions(["routers.read", "routers.reboot"]);
        const g: Graph = {
          company: (await c.createCompany({ name: "acme" })).id,
          reader: (await c.createUser({ name: "reader" })).id,
          rebooter: (await c.createUser({ name: "rebooter" })).id,
        };
        await c.setGrant({ principal: g.reader, company: g.company, permissions: ["routers.read"] });
        await c.setGrant({ principal: g.rebooter, company: g.company, permissions: ["routers.read", "routers.reboot"] });

        let stop!: () => void;
        const stopped = new Promise<void>((resolve) => (stop = resolve));
        const running = load(c, g, stopped, "load");
        await sleep(300);
        const before = { events: events.length };
        if (how === "killed (SIGKILL)") await d.crash();
        else await d.stop();
        await sleep(200); // calls made while it is down wait for the next connection
        await d.start();
        await waitFor(() => events.includes("reconnected"));
        await sleep(300);
        stop();
        const r = await running;

        assert.deepEqual(events.slice(before.events, before.events + 2), ["disconnected", "reconnected"]);
        assert.deepEqual(r.other, [], "no error but disconnected");
        for (const e of r.disconnected) {
          assert.equal(e.sent, true);
          assert.match(e.message, /may have been applied and is not resent/);
        }
        if (how === "killed (SIGKILL)") assert.ok(r.disconnected.length > 0, "calls were in flight");
        const answeredBefore = r.answered;
        assert.ok(answeredBefore > 0);
        // After the restart the same client serves, and every acknowledged write is there once.
        const after = await Promise.all(Array.from({ length: 100 }, (_, i) => check(c, i, g)));
        assert.equal(after.filter((a) => a.allowed).length, 50);
        const names = new Set<string>();
        for (let token = 0n; ; ) {
          const page = await c.listCompanies({ pageToken: token });
          for (const co of page.companies) names.add(co.name);
          if (!page.more) break;
          token = page.nextPageToken;
        }
        for (const name of r.created) assert.ok(names.has(name), `acknowledged ${name} is missing`);
        const unexplained = [...names].filter((n) => n.startsWith("load-") && !r.created.includes(n) && !r.uncertain.includes(n));
        assert.deepEqual(unexplained, [], "a company no call accounts for (a resend?)");
        assert.ok(r.created.length > 0);
      } finally {
        c.destroy();
        await d.dispose();
      }
    });
  }
});

// GatehouseError is a value from the daemon; a connection failure is never one.
test("the two kinds of failure are distinct classes", () => {
  assert.ok(!(new GatehouseConnectionError("timeout", "x", true) instanceof GatehouseError));
});
