// The session store without a browser: server-side expiry (idle and absolute), forged cookies,
// and the constant-time comparison's answers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { readCookie, sameSecret, Sessions } from "../src/sessions.js";

test("sessions expire on the server after the idle time and after the absolute time", () => {
  let now = 1_000;
  const sessions = new Sessions({ idleSeconds: 60, absoluteSeconds: 300, maxSessions: 10 }, () => now);
  const idle = sessions.create({ id: 1n, name: "a" }, 2n);
  now += 59;
  assert.equal(sessions.find(idle.cookie)?.user?.name, "a");
  now += 61;
  assert.equal(sessions.find(idle.cookie), undefined, "idle for 61 s > 60 s");
  assert.equal(sessions.find(idle.cookie), undefined, "and it is gone for good");

  const busy = sessions.create({ id: 1n, name: "b" }, 2n);
  for (let i = 0; i < 10; i++) {
    now += 30;
    assert.ok(sessions.find(busy.cookie), `active at +${(i + 1) * 30} s`);
  }
  now += 30; // 330 s after creation
  assert.equal(sessions.find(busy.cookie), undefined, "past the absolute lifetime, however active");
});

test("a cookie with the right id and a wrong secret finds nothing", () => {
  const sessions = new Sessions({ idleSeconds: 60, absoluteSeconds: 300, maxSessions: 10 });
  const { cookie } = sessions.create();
  const [id, secret] = cookie.split(".") as [string, string];
  assert.ok(sessions.find(cookie));
  const other = secret.endsWith("A") ? "B" : "A";
  assert.equal(sessions.find(`${id}.${secret.slice(0, -1)}${other}`), undefined);
  assert.equal(sessions.find(`${id}.`), undefined);
  assert.equal(sessions.find(id), undefined);
  assert.equal(sessions.find(undefined), undefined);
});

test("the least recently used session is dropped past the limit", () => {
  const sessions = new Sessions({ idleSeconds: 60, absoluteSeconds: 300, maxSessions: 2 });
  const a = sessions.create();
  const b = sessions.create();
  assert.ok(sessions.find(a.cookie)); // a is now the most recent
  sessions.create();
  assert.equal(sessions.size, 2);
  assert.ok(sessions.find(a.cookie));
  assert.equal(sessions.find(b.cookie), undefined);
});

test("sameSecret and readCookie", () => {
  assert.equal(sameSecret("abc", "abc"), true);
  assert.equal(sameSecret("abc", "abd"), false);
  assert.equal(sameSecret("abc", "abcd"), false);
  assert.equal(sameSecret("", "abc"), false);
  assert.equal(readCookie("x=1; gh_console=id.secret; y=2"), "id.secret");
  assert.equal(readCookie("x=1"), undefined);
});
