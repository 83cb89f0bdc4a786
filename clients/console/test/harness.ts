// End-to-end support for the browser tests: the real gatehoused (the binary named by GATEHOUSED,
// which CTest sets to the one it just built) on a temporary directory, the demo graph of
// scripts/demo loaded through @gatehouse/client in the system context (plus passwords, a TOTP
// user and one permission no role holds), the console in this process on a free port, and
// Debian's headless Chromium driven by playwright-core. Screenshots go to
// $GATEHOUSE_CONSOLE_SCREENSHOTS (default: clients/console/test-results).
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { connect, type Client } from "@gatehouse/client";
import { startConsole, type RunningConsole } from "../src/server.js";
import { secretOf, totpCode } from "../src/totp.js";

export const PASSWORDS: Record<string, string> = {
  alice: "alice-correct-horse",
  nadia: "nadia-battery-staple",
  sam: "sam-second-factor",
  bob: "bob-operator-pass",
};

export const SCREENSHOTS = resolve(
  process.env["GATEHOUSE_CONSOLE_SCREENSHOTS"] ?? join(dirname(fileURLToPath(import.meta.url)), "../../test-results"),
);

function canConnect(path: string): Promise<boolean> {
  return new Promise((done) => {
    const s = net.createConnection({ path });
    s.once("connect", () => {
      s.destroy();
      done(true);
    });
    s.once("error", () => done(false));
  });
}

export interface Ids {
  companies: Record<string, bigint>;
  users: Record<string, bigint>;
  accounts: Record<string, bigint>;
  roles: Record<string, bigint>;
}

export class World {
  private constructor(
    readonly dir: string,
    readonly daemon: ChildProcess,
    readonly gh: Client,
    readonly console: RunningConsole,
    readonly browser: Browser,
    readonly ids: Ids,
    readonly samTotp: Buffer,
    /** msp-automation's first key (made in the system context). */
    readonly mspKey: string,
  ) {}

  /** Starts everything; `credentialsToml` is added to the daemon's [credentials] section. */
  static async start(credentialsToml = ""): Promise<World> {
    const binary = process.env["GATEHOUSED"];
    if (binary === undefined || binary === "") throw new Error("GATEHOUSED is not set: the gatehoused binary to test (CTest sets it)");
    const dir = mkdtempSync(join(tmpdir(), "gh-console-"));
    const socket = join(dir, "gh.sock");
    writeFileSync(
      join(dir, "gatehoused.toml"),
      `[daemon]\nsocket = "${socket}"\ndata_dir = "${join(dir, "data")}"\nio_threads = 2\n` +
        `[credentials]\npepper_file = "${join(dir, "pepper")}"\n${credentialsToml}\n`,
    );
    const log = openSync(join(dir, "daemon.log"), "a", 0o600);
    const daemon = spawn(binary, ["--config", join(dir, "gatehoused.toml")], { stdio: ["ignore", "ignore", log] });
    closeSync(log);
    process.on("exit", () => daemon.kill("SIGKILL"));
    const deadline = Date.now() + 20_000;
    while (!(await canConnect(socket))) {
      if (daemon.exitCode !== null || Date.now() > deadline) {
        throw new Error(`gatehoused did not start:\n${readFileSync(join(dir, "daemon.log"), "utf8")}`);
      }
      await sleep(20);
    }
    const gh = await connect({ socket, timeoutMs: 20_000 });
    const { ids, samTotp, mspKey } = await loadGraph(gh);
    const running = await startConsole({ client: gh, port: 0, log: () => {} });
    const browser = await chromium.launch({
      executablePath: process.env["GATEHOUSE_CHROMIUM"] ?? "/usr/bin/chromium",
      args: ["--no-sandbox"],
    });
    mkdirSync(SCREENSHOTS, { recursive: true });
    return new World(dir, daemon, gh, running, browser, ids, samTotp, mspKey);
  }

  get url(): string {
    return this.console.url;
  }

  /** Sam's TOTP code for now. */
  samCode(): string {
    return totpCode(this.samTotp, Date.now() / 1000);
  }

  /** A new browser context (its own cookies) on the sign-in page. */
  async newPage(): Promise<Page> {
    const context = await this.browser.newContext({ viewport: { width: 1360, height: 820 } });
    const page = await context.newPage();
    await page.goto(`${this.url}/sign-in`);
    return page;
  }

  async signIn(user: string, totp?: string): Promise<Page> {
    const page = await this.newPage();
    await fillSignIn(page, user, PASSWORDS[user] ?? "", totp);
    await page.waitForURL(`${this.url}/service-accounts`);
    return page;
  }

  async screenshot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  }

  async stop(): Promise<void> {
    await this.browser.close();
    await this.console.close();
    this.gh.destroy();
    const exited = new Promise((done) => this.daemon.once("exit", done));
    this.daemon.kill("SIGTERM");
    await exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function fillSignIn(page: Page, user: string, password: string, totp?: string): Promise<void> {
  await page.fill("#user", user);
  await page.fill("#password", password);
  await page.fill("#totp", totp ?? "");
  await page.click("form.signin button[type=submit]");
  await page.waitForLoadState("domcontentloaded");
}

/** scripts/demo's graph, through the client in the system context. */
async function loadGraph(gh: Client): Promise<{ ids: Ids; samTotp: Buffer; mspKey: string }> {
  await gh.definePermissions([
    "routers.read", "routers.write", "routers.reboot", "firmware.update", "service_accounts.read",
    "service_accounts.manage", "roles.manage", "users.manage", "audit.read",
    "billing.export", // held by no role: granting it is an escalation for everyone
  ]);
  const companies: Record<string, bigint> = {};
  for (const name of ["msp", "client-north", "client-south"]) companies[name] = (await gh.createCompany({ name })).id;
  const all = ["routers.read", "routers.write", "routers.reboot", "firmware.update", "service_accounts.read",
    "service_accounts.manage", "roles.manage", "users.manage", "audit.read"];
  const roles: Record<string, bigint> = {
    viewer: (await gh.createRole({ name: "viewer", permissions: ["routers.read"] })).id,
    operator: (await gh.createRole({ name: "operator", permissions: ["routers.read", "routers.write", "routers.reboot"] })).id,
    admin: (await gh.createRole({ name: "admin", permissions: all })).id,
  };
  roles["night-shift"] = (await gh.createRole({ company: companies["client-north"]!, name: "night-shift", permissions: ["routers.reboot"] })).id;
  const users: Record<string, bigint> = {};
  for (const name of ["alice", "bob", "carol", "nadia", "sam"]) users[name] = (await gh.createUser({ name })).id;
  for (const [user, company, role] of [
    ["alice", "msp", "admin"], ["nadia", "client-north", "admin"], ["sam", "client-south", "admin"],
    ["bob", "client-north", "operator"], ["carol", "client-south", "viewer"],
    ["alice", "client-south", "admin"], // beyond scripts/demo: the MSP administrator also administers a client
  ] as const) {
    await gh.setGrant({ principal: users[user]!, company: companies[company]!, roles: [roles[role]!] });
  }
  for (const [user, password] of Object.entries(PASSWORDS)) await gh.setPassword({ user: users[user]!, password });
  const { uri } = await gh.enrollTotp({ user: users["sam"]! });
  const accounts: Record<string, bigint> = {};
  accounts["msp-automation"] = (await gh.createServiceAccount({ name: "msp-automation", ownerCompany: companies["msp"]!, description: "MSP fleet automation" })).id;
  for (const [company, role] of [["msp", "viewer"], ["client-north", "operator"], ["client-south", "viewer"]] as const) {
    await gh.setGrant({ principal: accounts["msp-automation"]!, company: companies[company]!, roles: [roles[role]!] });
  }
  accounts["north-backup"] = (await gh.createServiceAccount({ name: "north-backup", ownerCompany: companies["client-north"]!, description: "nightly config backup" })).id;
  await gh.setGrant({ principal: accounts["north-backup"]!, company: companies["client-north"]!, permissions: ["routers.read"] });
  const mspKey = (await gh.createKey({ serviceAccount: accounts["msp-automation"]! })).secret;
  return { ids: { companies, users, accounts, roles }, samTotp: secretOf(uri), mspKey };
}
