// Sign-in in headless Chromium: every refusal says what the daemon's reason allows and no more,
// TOTP (missing, wrong, accepted once, replayed), the session cookie's attributes, CSRF, sign-out,
// and the daemon's rate limit shown as "try again in N s" (last: it locks out 127.0.0.1).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Page } from "playwright-core";
import { fillSignIn, PASSWORDS, World } from "./harness.js";

let w: World;
before(async () => {
  w = await World.start("rate_limit_failures = 8\nrate_limit_backoff_seconds = 120\n");
});
after(async () => {
  await w?.stop();
});

async function refusal(page: Page): Promise<string> {
  return (await page.locator(".flash.error").textContent()) ?? "";
}

const GENERIC = "Sign-in refused: the user name or password is not right.";

test("a wrong password and an unknown user get the same refusal", async () => {
  const page = await w.newPage();
  await w.screenshot(page, "sign-in");
  await fillSignIn(page, "alice", "not-alices-password");
  assert.equal(await refusal(page), GENERIC);
  assert.equal(new URL(page.url()).pathname, "/sign-in");
  await fillSignIn(page, "mallory", "whatever-password");
  assert.equal(await refusal(page), GENERIC);
  await page.context().close();
});

test("a service account cannot sign in to the UI: its key is refused with its own message", async () => {
  const page = await w.newPage();
  await fillSignIn(page, "", w.mspKey);
  assert.match(await refusal(page), /^Service accounts cannot sign in to the UI/);
  assert.equal(new URL(page.url()).pathname, "/sign-in");
  await fillSignIn(page, "msp-automation", w.mspKey);
  assert.match(await refusal(page), /^Service accounts cannot sign in to the UI/);
  await w.screenshot(page, "sign-in-refused");
  // Its name with any password: the daemon answers serviceAccountNoUi too.
  await fillSignIn(page, "msp-automation", "some-password");
  assert.match(await refusal(page), /^Service accounts cannot sign in to the UI/);
  await page.context().close();
});

test("TOTP: a missing code, a wrong code, an accepted code, and the same code replayed", async () => {
  const page = await w.newPage();
  await fillSignIn(page, "sam", PASSWORDS["sam"]!);
  assert.match(await refusal(page), /enter the TOTP code/);
  assert.equal(new URL(page.url()).pathname, "/sign-in");

  const code = w.samCode();
  const wrong = ((Number(code) + 500_000) % 1_000_000).toString().padStart(6, "0");
  await fillSignIn(page, "sam", PASSWORDS["sam"]!, wrong);
  assert.equal(await refusal(page), "Sign-in refused: the TOTP code is not valid.");

  await fillSignIn(page, "sam", PASSWORDS["sam"]!, code);
  await page.waitForURL(`${w.url}/service-accounts`);
  assert.equal(await page.locator(".who").textContent(), "sam");
  assert.equal(await page.locator("#company option[selected]").textContent(), "client-south");
  await page.click("form.signout button");
  await page.waitForURL(`${w.url}/sign-in`);

  await fillSignIn(page, "sam", PASSWORDS["sam"]!, code);
  assert.match(await refusal(page), /this TOTP code was already used/);
  assert.equal(new URL(page.url()).pathname, "/sign-in");
  await page.context().close();
});

test("the session cookie is HttpOnly and SameSite=Strict; forms need the CSRF token; sign-out ends the session", async () => {
  const page = await w.signIn("alice");
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === "gh_console");
  assert.ok(session, "the session cookie is set");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  assert.equal(await page.evaluate(() => document.cookie), "", "no script can read it");

  const request = page.context().request;
  const none = await request.post(`${w.url}/sign-out`, { form: {}, maxRedirects: 0 });
  assert.equal(none.status(), 403);
  const wrong = await request.post(`${w.url}/sign-out`, { form: { csrf: "x".repeat(43) }, maxRedirects: 0 });
  assert.equal(wrong.status(), 403);
  const stillIn = await fetch(`${w.url}/service-accounts`, { headers: { cookie: `gh_console=${session.value}` }, redirect: "manual" });
  assert.equal(stillIn.status, 200, "the refused posts did not sign out");

  await page.click("form.signout button");
  await page.waitForURL(`${w.url}/sign-in`);
  const after = await fetch(`${w.url}/service-accounts`, { headers: { cookie: `gh_console=${session.value}` }, redirect: "manual" });
  assert.equal(after.status, 303, "the old cookie names no session on the server");
  assert.equal(after.headers.get("location"), "/sign-in");
  await page.context().close();
});

test("the daemon's rate limit shows 'try again in N s'", async () => {
  const page = await w.newPage();
  let text = "";
  for (let i = 0; i < 12 && !/try again in/.test(text); i++) {
    await fillSignIn(page, "bob", `wrong-password-${i}`);
    text = await refusal(page);
  }
  assert.match(text, /^Too many failed sign-ins: try again in \d+ s\.$/);
  const seconds = Number(/in (\d+) s/.exec(text)![1]);
  assert.ok(seconds > 0 && seconds <= 120, `${seconds} s within the configured back-off`);
  // The source is in back-off: even a right password is refused now, by the daemon.
  await fillSignIn(page, "alice", PASSWORDS["alice"]!);
  assert.match(await refusal(page), /try again in \d+ s/);
  await page.context().close();
});
