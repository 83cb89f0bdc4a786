// The console's HTTP server (node:http): routing, sessions, CSRF, and one handler per page or
// form. Every read and every change goes to gatehoused through @gatehouse/client, as the signed-in
// user (`actor`) in the active company; the daemon's answer — rows, actions, errors — is what the
// page shows. The console decides nothing the daemon decides: a form for an action the page did
// not offer is sent all the same, and the daemon's refusal is displayed.
//
// Logs: one line per request (method, path, status, milliseconds). Never a body, a cookie, a
// password, a TOTP code or a key.
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  GatehouseConnectionError,
  GatehouseError,
  type ActorContext,
  type Client,
  type CompanyInfo,
  type CredentialRefusal,
  type RoleInfo,
  type SaRow,
} from "@gatehouse/client";
import type { Html } from "./html.js";
import * as pages from "./pages.js";
import {
  clearCookieHeader,
  cookieHeader,
  readCookie,
  sameSecret,
  Sessions,
  type Flash,
  type Session,
} from "./sessions.js";

export interface ConsoleOptions {
  client: Client;
  /** 0: any free port. */
  port: number;
  /** Where to listen; the console is meant for 127.0.0.1. */
  host?: string;
  idleSeconds?: number;
  absoluteSeconds?: number;
  /** Adds `Secure` to the cookie, for a console behind an HTTPS proxy. */
  secureCookie?: boolean;
  log?: (line: string) => void;
}

export interface RunningConsole {
  url: string;
  server: Server;
  sessions: Sessions;
  close(): Promise<void>;
}

const STATIC_DIR = join(dirname(fileURLToPath(import.meta.url)), "../../static");
const STATIC: Record<string, { file: string; type: string }> = {
  "/static/console.css": { file: "console.css", type: "text/css; charset=utf-8" },
  "/static/console.js": { file: "console.js", type: "text/javascript; charset=utf-8" },
};
const MAX_BODY = 64 * 1024;
const ID = /^[0-9]{1,20}$/;

/** What a sign-in refusal says: never more than the daemon's reason. */
export function refusalText(refusal: CredentialRefusal, retryAfterSeconds: number): string {
  switch (refusal) {
    case "serviceAccountNoUi":
      return "Service accounts cannot sign in to the UI: they are for programmatic access with API keys only.";
    case "rateLimited":
      return `Too many failed sign-ins: try again in ${retryAfterSeconds} s.`;
    case "totpRequired":
      return "This user signs in with a second factor: enter the TOTP code from the authenticator app.";
    case "totpInvalid":
      return "Sign-in refused: the TOTP code is not valid.";
    case "totpReplayed":
      return "Sign-in refused: this TOTP code was already used. Wait for the next code.";
    case "disabled":
      return "Sign-in refused: the account is disabled.";
    case "keyRevoked":
    case "keyExpired":
    case "badCredential":
    default:
      return "Sign-in refused: the user name or password is not right.";
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = req.headers["content-type"] ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded")) {
    throw new HttpError(415, "Forms are sent as application/x-www-form-urlencoded.");
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, "The form is too large.");
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

function idField(form: URLSearchParams, name: string): bigint {
  const value = (form.get(name) ?? "").trim();
  if (!ID.test(value)) throw new HttpError(400, `The form's ${name} is not an id.`);
  return BigInt(value);
}

function errorFlash(e: unknown): Flash {
  if (e instanceof GatehouseError) {
    return { kind: "error", text: e.message, missing: e.missing };
  }
  throw e;
}

export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const gh = options.client;
  const log = options.log ?? ((line: string) => console.log(line));
  const secure = options.secureCookie ?? false;
  const idleSeconds = options.idleSeconds ?? 30 * 60;
  const absoluteSeconds = options.absoluteSeconds ?? 8 * 3600;
  const sessions = new Sessions({ idleSeconds, absoluteSeconds, maxSessions: 10_000 });
  const statics = new Map<string, { body: Buffer; type: string }>();
  for (const [path, { file, type }] of Object.entries(STATIC)) {
    statics.set(path, { body: readFileSync(join(STATIC_DIR, file)), type });
  }

  function send(res: ServerResponse, status: number, body: Html | string, headers: Record<string, string | string[]> = {}): void {
    res.writeHead(status, {
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-store",
      "Content-Security-Policy":
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
      ...headers,
    });
    res.end(String(body));
  }

  function redirect(res: ServerResponse, location: string, headers: Record<string, string | string[]> = {}): void {
    send(res, 303, "", { Location: location, ...headers });
  }

  async function allCompanies(): Promise<CompanyInfo[]> {
    const out: CompanyInfo[] = [];
    let token = 0n;
    for (;;) {
      const page = await gh.listCompanies({ pageToken: token });
      out.push(...page.companies);
      if (!page.more) return out;
      token = page.nextPageToken;
    }
  }

  /** The companies where the user holds a grant: the switcher's choices. */
  async function userCompanies(user: bigint): Promise<CompanyInfo[]> {
    const [principal, companies] = await Promise.all([gh.getPrincipal({ principal: user }), allCompanies()]);
    const mine = new Set(principal.companies);
    return companies.filter((c) => mine.has(c.id));
  }

  async function catalog(): Promise<string[]> {
    const out: string[] = [];
    let token = 0n;
    for (;;) {
      const page = await gh.listCatalog({ pageToken: token });
      out.push(...page.names);
      if (!page.more) return out.sort();
      token = page.nextPageToken;
    }
  }

  async function roles(company: bigint): Promise<RoleInfo[]> {
    const out: RoleInfo[] = [];
    let token = 0n;
    for (;;) {
      const page = await gh.listRoles({ company, pageToken: token });
      out.push(...page.roles);
      if (!page.more) return out;
      token = page.nextPageToken;
    }
  }

  function takeFlash(session: Session): Flash | undefined {
    const flash = session.flash;
    delete session.flash;
    return flash;
  }

  async function page(res: ServerResponse, session: Session, title: string, current: "accounts" | "audit" | undefined, body: Html): Promise<void> {
    const user = session.user;
    if (user === undefined) throw new Error("page() needs a signed-in session");
    const companies = await userCompanies(user.id);
    const frame: pages.Frame = {
      title,
      csrf: session.csrf,
      user,
      companies,
      company: session.company,
      flash: takeFlash(session),
      ...(current === undefined ? {} : { current }),
    };
    send(res, 200, pages.layout(frame, body));
  }

  function as(session: Session): ActorContext {
    if (session.user === undefined) throw new Error("no user");
    return { actor: session.user.id, company: session.company };
  }

  /** The active company's row of one account (saShow), or a flash with the daemon's error. */
  async function row(session: Session, account: bigint): Promise<SaRow | Flash> {
    try {
      const view = await gh.saShow(as(session), { serviceAccount: account });
      const found = view.rows[0];
      if (found === undefined) return { kind: "error", text: `notFound: no service account ${account} here` };
      return found;
    } catch (e) {
      return errorFlash(e);
    }
  }

  // ---- GET ----

  async function signInForm(res: ServerResponse, session: Session | undefined, flash?: Flash, user = ""): Promise<void> {
    if (session !== undefined && session.user === undefined) {
      send(res, 200, pages.signInPage(session.csrf, flash ?? takeFlash(session), user));
      return;
    }
    const fresh = sessions.create();
    send(res, 200, pages.signInPage(fresh.session.csrf, flash, user), {
      "Set-Cookie": cookieHeader(fresh.cookie, idleSeconds, secure),
    });
  }

  async function accountsPage(res: ServerResponse, session: Session): Promise<void> {
    let body: Html;
    if (session.company === 0n) {
      body = pages.messageBody("You hold no grant in any company.");
    } else {
      try {
        const rows: SaRow[] = [];
        let token = 0n;
        let view;
        for (;;) {
          view = await gh.saList(as(session), { pageToken: token });
          rows.push(...view.rows);
          if (!view.more) break;
          token = view.nextPageToken;
        }
        body = pages.accountsBody(session.csrf, { ...view, rows }, await roles(session.company));
      } catch (e) {
        session.flash ??= errorFlash(e);
        body = pages.accountsBody(session.csrf, undefined, []);
      }
    }
    await page(res, session, "Service accounts", "accounts", body);
  }

  async function accountPage(res: ServerResponse, session: Session, account: bigint, what: string): Promise<void> {
    const found = await row(session, account);
    if (!("id" in found)) {
      session.flash = found;
      redirect(res, "/service-accounts");
      return;
    }
    switch (what) {
      case "permissions": {
        const [names, companyRoles] = await Promise.all([catalog(), roles(session.company)]);
        await page(res, session, `Permissions of ${found.name}`, "accounts", pages.permissionsBody(session.csrf, found, names, companyRoles));
        return;
      }
      case "description":
        await page(res, session, `Description of ${found.name}`, "accounts", pages.descriptionBody(session.csrf, found));
        return;
      case "delete":
        await page(res, session, `Delete ${found.name}`, "accounts", pages.deleteBody(session.csrf, found));
        return;
      case "share":
        await page(res, session, `Share ${found.name}`, "accounts", pages.shareBody(session.csrf, found, await allCompanies()));
        return;
      default:
        throw new HttpError(404, "No such page.");
    }
  }

  async function auditPage(res: ServerResponse, session: Session, url: URL): Promise<void> {
    const limit = 100;
    const beforeText = url.searchParams.get("before") ?? "0";
    const before = ID.test(beforeText) ? BigInt(beforeText) : 0n;
    let body: Html;
    try {
      const audit = await gh.auditList(as(session), { limit, before });
      const names = new Map<bigint, string>();
      const actors = [...new Set(audit.events.map((e) => e.actor).filter((a) => a !== 0n))];
      const infos = await Promise.all(actors.map((a) => gh.getPrincipal({ principal: a })));
      for (const info of infos) if (info.found) names.set(info.id, info.name);
      const last = audit.events[audit.events.length - 1];
      body = pages.auditBody(audit.events, names, audit.events.length === limit && last !== undefined ? last.sequence : undefined);
    } catch (e) {
      session.flash ??= errorFlash(e);
      body = pages.auditBody([], new Map(), undefined);
    }
    await page(res, session, "Audit", "audit", body);
  }

  // ---- POST ----

  async function signIn(req: IncomingMessage, res: ServerResponse, session: Session, form: URLSearchParams): Promise<void> {
    const user = (form.get("user") ?? "").trim();
    const password = form.get("password") ?? "";
    const totp = (form.get("totp") ?? "").trim();
    // An empty user name, or an API key in the password field, is checked as a key: on the ui
    // channel the daemon refuses every service account's key with its own reason.
    const asKey = user === "" || password.startsWith("gatesk_");
    const source = req.socket.remoteAddress ?? "";
    let result;
    try {
      result = await gh.checkCredential({
        credential: password,
        channel: "ui",
        source,
        ...(asKey ? {} : { user }),
        ...(totp === "" || asKey ? {} : { totp }),
      });
    } catch (e) {
      if (!(e instanceof GatehouseError)) throw e;
      await signInForm(res, session, { kind: "error", text: `Sign-in refused: ${e.message}` }, user);
      return;
    }
    if (!result.accepted || result.kind !== "user") {
      const refusal = result.accepted ? "serviceAccountNoUi" : result.refusal;
      await signInForm(res, session, { kind: "error", text: refusalText(refusal, result.retryAfterSeconds) }, asKey ? "" : user);
      return;
    }
    const companies = await userCompanies(result.principal);
    sessions.destroy(session);
    const fresh = sessions.create({ id: result.principal, name: user }, companies[0]?.id ?? 0n);
    redirect(res, "/service-accounts", { "Set-Cookie": cookieHeader(fresh.cookie, absoluteSeconds, secure) });
  }

  async function switchCompany(res: ServerResponse, session: Session, form: URLSearchParams): Promise<void> {
    const company = idField(form, "company");
    const companies = await userCompanies(as(session).actor as bigint);
    const chosen = companies.find((c) => c.id === company);
    if (chosen === undefined) {
      session.flash = { kind: "error", text: "You hold no grant in that company." };
    } else {
      session.company = company;
    }
    redirect(res, "/service-accounts");
  }

  /** Runs one change as the user in the active company; the daemon's answer becomes the flash. */
  async function change(res: ServerResponse, session: Session, back: string, run: () => Promise<Flash>, backOnError = back): Promise<void> {
    try {
      session.flash = await run();
      redirect(res, back);
    } catch (e) {
      session.flash = errorFlash(e);
      redirect(res, backOnError);
    }
  }

  async function post(res: ServerResponse, session: Session, path: string, form: URLSearchParams): Promise<void> {
    const ctx = as(session);
    const list = "/service-accounts";
    switch (path) {
      case "/service-accounts/create": {
        const name = (form.get("name") ?? "").trim();
        const description = form.get("description") ?? "";
        return change(res, session, list, async () => {
          const created = await gh.saCreate(ctx, { name, description });
          return { kind: "ok", text: `Created service account ${name} (id ${created.id}).`, secret: { account: name, key: created.secret } };
        });
      }
      case "/service-accounts/grant": {
        const account = idField(form, "account");
        const role = (form.get("role") ?? "").trim();
        const roles = role === "" ? [] : [idField(form, "role")];
        return change(res, session, list, async () => {
          await gh.saGrant(ctx, { principal: account, roles });
          return { kind: "ok", text: `Granted account ${account} access to this company.` };
        });
      }
      case "/service-accounts/describe": {
        const account = idField(form, "account");
        const description = form.get("description") ?? "";
        return change(res, session, list, async () => {
          await gh.saDescribe(ctx, { serviceAccount: account, description });
          return { kind: "ok", text: `Description of account ${account} saved.` };
        });
      }
      case "/service-accounts/reset": {
        const account = idField(form, "account");
        return change(res, session, list, async () => {
          const issued = await gh.saResetCredentials(ctx, { serviceAccount: account });
          const shown = await row(session, account);
          const name = "id" in shown ? shown.name : `account ${account}`;
          return {
            kind: "ok",
            text: `Credentials of ${name} reset: ${issued.retired} key(s) revoked, one issued.`,
            secret: { account: name, key: issued.secret },
          };
        });
      }
      case "/service-accounts/delete": {
        const account = idField(form, "account");
        return change(res, session, list, async () => {
          await gh.saDelete(ctx, { serviceAccount: account });
          return { kind: "ok", text: `Service account ${account} deleted.` };
        });
      }
      case "/service-accounts/permissions": {
        const account = idField(form, "account");
        const permissions = form.getAll("permission");
        const roleIds = form.getAll("role").map((r) => {
          if (!ID.test(r)) throw new HttpError(400, "The form's role is not an id.");
          return BigInt(r);
        });
        const expiresText = form.get("expiresAt") ?? "0";
        const expiresAt = ID.test(expiresText) ? BigInt(expiresText) : 0n;
        return change(
          res,
          session,
          list,
          async () => {
            await gh.saGrant(ctx, { principal: account, permissions, roles: roleIds, expiresAt });
            return { kind: "ok", text: `Permissions of account ${account} in this company saved.` };
          },
          `/service-accounts/${account}/permissions`,
        );
      }
      case "/service-accounts/revoke": {
        const account = idField(form, "account");
        return change(res, session, list, async () => {
          await gh.saRevoke(ctx, { serviceAccount: account });
          return { kind: "ok", text: `Access of account ${account} to this company removed.` };
        });
      }
      case "/service-accounts/share": {
        const account = idField(form, "account");
        const company = idField(form, "company");
        return change(res, session, list, async () => {
          await gh.saShare(ctx, { serviceAccount: account, company });
          return { kind: "ok", text: `Account ${account} offered to company ${company}.` };
        });
      }
      case "/service-accounts/unshare": {
        const account = idField(form, "account");
        const company = idField(form, "company");
        return change(res, session, list, async () => {
          await gh.saUnshare(ctx, { serviceAccount: account, company });
          return { kind: "ok", text: `Offer of account ${account} to company ${company} withdrawn.` };
        });
      }
      default:
        throw new HttpError(404, "No such form.");
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://console.invalid");
    const path = url.pathname;
    const method = req.method ?? "GET";
    if (method === "GET" && statics.has(path)) {
      const file = statics.get(path)!;
      res.writeHead(200, { "Content-Type": file.type, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff" });
      res.end(file.body);
      return;
    }
    const session = sessions.find(readCookie(req.headers.cookie));
    if (method === "GET" || method === "HEAD") {
      if (path === "/sign-in") {
        if (session?.user !== undefined) return redirect(res, "/service-accounts");
        return signInForm(res, session);
      }
      if (session?.user === undefined) return redirect(res, "/sign-in");
      if (path === "/") return redirect(res, "/service-accounts");
      if (path === "/service-accounts") return accountsPage(res, session);
      if (path === "/audit") return auditPage(res, session, url);
      const match = /^\/service-accounts\/([0-9]{1,20})\/(permissions|description|delete|share)$/.exec(path);
      if (match !== null) return accountPage(res, session, BigInt(match[1]!), match[2]!);
      throw new HttpError(404, "No such page.");
    }
    if (method !== "POST") throw new HttpError(405, "Only GET and POST.");
    const form = await readForm(req);
    if (session === undefined || !sameSecret(form.get("csrf") ?? "", session.csrf)) {
      throw new HttpError(403, "This form expired or did not come from this console's page: reload the page and try again.");
    }
    if (path === "/sign-in") {
      if (session.user !== undefined) return redirect(res, "/service-accounts");
      return signIn(req, res, session, form);
    }
    if (session.user === undefined) return redirect(res, "/sign-in");
    if (path === "/sign-out") {
      sessions.destroy(session);
      return redirect(res, "/sign-in", { "Set-Cookie": clearCookieHeader(secure) });
    }
    if (path === "/company") return switchCompany(res, session, form);
    return post(res, session, path, form);
  }

  const server = createServer((req, res) => {
    const started = performance.now();
    route(req, res)
      .catch((e: unknown) => {
        if (e instanceof HttpError) {
          send(res, e.status, pages.layout({ title: "Not done", csrf: "" }, pages.messageBody(e.message)));
          return;
        }
        if (e instanceof GatehouseConnectionError) {
          log(`gatehoused: ${e.reason}: ${e.message}`);
          send(res, 503, pages.layout({ title: "gatehoused is not answering", csrf: "" }, pages.messageBody(`The console could not reach gatehoused (${e.reason}). Try again shortly.`)));
          return;
        }
        log(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        if (!res.headersSent) send(res, 500, pages.layout({ title: "Internal error", csrf: "" }, pages.messageBody("The console failed; see its log.")));
        else res.end();
      })
      .finally(() => {
        log(`${req.method ?? "?"} ${(req.url ?? "").split("?")[0]} ${res.statusCode} ${(performance.now() - started).toFixed(1)}ms`);
      });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.address}:${address.port}`,
    server,
    sessions,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
