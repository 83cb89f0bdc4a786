// End-to-end test support, as tests/daemon_fixture does for the C++ tests: runs the real gatehoused
// (the binary named by GATEHOUSED, which CTest sets to the one it just built) on a temporary
// directory holding its socket, data, pepper, configuration and log, and stops it by pid.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as net from "node:net";

export function daemonPath(): string {
  const path = process.env["GATEHOUSED"];
  if (path === undefined || path === "") {
    throw new Error("GATEHOUSED is not set: the path of the gatehoused binary to test (CTest sets it)");
  }
  return path;
}

const running = new Set<Daemon>();
// A test that fails or is interrupted leaves no daemon behind.
process.on("exit", () => {
  for (const d of running) d.kill();
});

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export interface DaemonOptions {
  /** Appended to the [daemon] section (socket and data_dir are set); may open other sections. */
  extraToml?: string;
  /** Added to the [credentials] section (pepper_file is set). */
  credentialsToml?: string;
}

export class Daemon {
  readonly dir: string;
  #child: ChildProcess | null = null;
  #exited: Promise<number | null> | null = null;

  private constructor(options: DaemonOptions) {
    this.dir = mkdtempSync(join(tmpdir(), "gh-ts-"));
    writeFileSync(
      join(this.dir, "gatehoused.toml"),
      `[daemon]\nsocket = "${this.socket}"\ndata_dir = "${join(this.dir, "data")}"\nio_threads = 2\n` +
        `${options.extraToml ?? ""}\n` +
        `[credentials]\npepper_file = "${join(this.dir, "pepper")}"\n${options.credentialsToml ?? ""}\n`,
    );
  }

  static async start(options: DaemonOptions = {}): Promise<Daemon> {
    const d = new Daemon(options);
    await d.start();
    return d;
  }

  get socket(): string {
    return join(this.dir, "gh.sock");
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Lets other users reach the socket's directory (for a peer of another uid). */
  openDirectory(): void {
    chmodSync(this.dir, 0o755);
  }

  async start(): Promise<void> {
    const log = openSync(join(this.dir, "daemon.log"), "a", 0o600);
    const child = spawn(daemonPath(), ["--config", join(this.dir, "gatehoused.toml")], {
      stdio: ["ignore", "ignore", log],
    });
    closeSync(log);
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    running.add(this);
    const deadline = Date.now() + 20_000;
    let exited = false;
    void this.#exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (await canConnect(this.socket)) return;
      if (exited) {
        running.delete(this);
        this.#child = null;
        throw new Error(`gatehoused exited during start-up:\n${this.log()}`);
      }
      await sleep(10);
    }
    throw new Error(`gatehoused did not accept connections within 20 s:\n${this.log()}`);
  }

  /** SIGTERM by pid and wait; the exit code (null when killed by a signal). */
  async stop(): Promise<number | null> {
    const child = this.#child;
    if (child === null || child.pid === undefined) return null;
    process.kill(child.pid, "SIGTERM");
    const code = await this.#exited;
    this.#child = null;
    running.delete(this);
    return code ?? null;
  }

  /** SIGKILL by pid, for tests of a daemon that dies. */
  async crash(): Promise<void> {
    const child = this.#child;
    if (child === null || child.pid === undefined) return;
    process.kill(child.pid, "SIGKILL");
    await this.#exited;
    this.#child = null;
    running.delete(this);
  }

  // Synchronous, for the exit hook.
  kill(): void {
    if (this.#child?.pid !== undefined) {
      try {
        process.kill(this.#child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, "daemon.log"), "utf8");
    } catch {
      return "(no log)";
    }
  }

  /** Stops the daemon and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
