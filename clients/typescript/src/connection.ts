// One connection to gatehoused: framing, ids, pipelining, back-pressure, timeouts and reconnection.
// The typed methods live in client.ts; this module knows requests only as encoders of frames and
// answers only as frames with their id and union member (`Answer`).
//
// Contract:
//  - Every request gets a fresh id on this connection (1, 2, ...); answers are matched by id, so
//    they may come in any order (docs/protocol.md, "Requests, ids, pipelining").
//  - Requests made in one turn of the event loop go out in one write. When the socket is full
//    (`write()` returned false), frames wait in this client's queue until 'drain'; the queue holds
//    at most `maxQueuedBytes`, beyond which a call fails at once with `queueFull` (nothing sent).
//  - A call that has no answer within its timeout fails with `timeout`. If it was still queued it
//    is never sent; if it was sent, its late answer is dropped. The connection stays usable.
//  - When the connection breaks, every call sent on it fails with `disconnected` (sent: true: it
//    may have been applied) and is never resent. Calls not yet sent wait for the next connection,
//    within their timeout. The client reconnects with exponential backoff until `close()`.
//
// Single-threaded, as everything in Node: a Connection belongs to its event loop.
import { EventEmitter } from "node:events";
import { statSync, readFileSync } from "node:fs";
import * as net from "node:net";

import { Message } from "capnp-es";

import { GatehouseConnectionError } from "./errors.js";
import { scanFrame, type FrameLimits } from "./framing.js";
import { Request, Response } from "./gen/gatehouse.js";
import { readEnvelope } from "./hot_path.js";

export interface ReconnectOptions {
  /** The first retry's delay (default 50 ms); each failed attempt doubles it. */
  initialDelayMs?: number;
  /** The longest delay between attempts (default 5,000 ms). */
  maxDelayMs?: number;
}

export interface ConnectionOptions {
  /** The daemon's socket. Default: ./var/gatehouse.sock when it exists (a checkout where
   *  ./scripts/run serves), otherwise /run/gatehouse/gatehouse.sock. */
  socket?: string;
  /** How long a call waits for its answer, queueing included; 0 waits for ever. Default 10,000. */
  timeoutMs?: number;
  /** Reconnect after the connection breaks (default: on, with the defaults above); false: stay
   *  disconnected, and every later call fails with `disconnected`. */
  reconnect?: boolean | ReconnectOptions;
  /** The most bytes of requests waiting to be handed to the socket (default 16 MiB). */
  maxQueuedBytes?: number;
}

export const SYSTEM_SOCKET = "/run/gatehouse/gatehouse.sock";
export const CHECKOUT_SOCKET = "./var/gatehouse.sock";

/** The CLI's default: ./var/gatehouse.sock when it exists, otherwise the system socket. */
export function defaultSocket(): string {
  try {
    statSync(CHECKOUT_SOCKET);
    return CHECKOUT_SOCKET;
  } catch {
    return SYSTEM_SOCKET;
  }
}

// Answers are built by the daemon, whose large answers have many segments (as the C++ client).
const ANSWER_LIMITS: FrameLimits = { maxFrameBytes: 256 << 20, maxSegments: 512 };
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_QUEUED_BYTES = 16 << 20;

/** One answer: its frame, id and union member; `root` reads it with capnp-es. */
export class Answer {
  readonly frame: Uint8Array;
  readonly id: number;
  readonly which: number;
  #root: Response | undefined;

  constructor(frame: Uint8Array, id: number, which: number, root?: Response) {
    this.frame = frame;
    this.id = id;
    this.which = which;
    this.#root = root;
  }

  get root(): Response {
    // A copy in an ArrayBuffer of its own, which capnp-es reads in place.
    this.#root ??= new Message(new Uint8Array(this.frame).buffer, false).getRoot(Response);
    return this.#root;
  }
}

/** Builds a request's frame with capnp-es: `fill` sets its union member and envelope fields. */
export function encodeRequest(fill: (request: Request) => void): (id: number) => Uint8Array {
  return (id) => {
    const message = new Message();
    const request = message.initRoot(Request);
    fill(request);
    request.id = BigInt(id);
    return new Uint8Array(message.toArrayBuffer());
  };
}

interface Call {
  readonly id: number;
  readonly what: string; // the request's name, for error messages
  readonly resolve: (answer: Answer) => void;
  readonly reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
  sent: boolean; // handed to the socket: it may have reached the daemon
  done: boolean; // answered or failed; a queued frame of a done call is never written
}

interface Queued {
  readonly call: Call;
  readonly frame: Uint8Array;
}

type State = "open" | "reconnecting" | "closing" | "closed";

function groupName(gid: number): string {
  try {
    for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
      const [name, , id] = line.split(":");
      if (name !== undefined && Number(id) === gid) return name;
    }
  } catch {
    // fall through to the number
  }
  return String(gid);
}

/** Why a connection could not be opened, in words a user can act on. */
function connectFailure(socket: string, error: NodeJS.ErrnoException): string {
  if (error.code === "EACCES") {
    try {
      const group = groupName(statSync(socket).gid);
      return (
        `cannot connect to ${socket}: permission denied; the socket admits members of group ` +
        `'${group}': add this user to it (usermod -aG ${group} USER) and log in again`
      );
    } catch {
      // fall through
    }
  }
  return `cannot connect to ${socket}: ${error.code ?? error.message} (is gatehoused running?)`;
}

function openSocket(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path });
    const onError = (error: NodeJS.ErrnoException): void => {
      socket.destroy();
      reject(new GatehouseConnectionError("connect", connectFailure(path, error), false, { cause: error }));
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      socket.off("error", onError);
      resolve(socket);
    });
  });
}

export interface ConnectionEvents {
  /** The connection broke; `error` says how. Calls sent on it have failed. */
  disconnected: [error: Error];
  /** A new connection is open after a break. */
  reconnected: [];
}

export class Connection extends EventEmitter<ConnectionEvents> {
  readonly socketPath: string;
  readonly timeoutMs: number;
  readonly #reconnect: Required<ReconnectOptions> | null;
  readonly #maxQueuedBytes: number;

  #socket: net.Socket | null = null;
  #state: State = "open";
  #nextId = 1;
  readonly #calls = new Map<number, Call>(); // every call not yet answered or failed
  #queue: Queued[] = []; // frames not yet handed to the socket, in call order
  #queuedBytes = 0;
  #flushScheduled = false;
  #congested = false; // the socket's write() returned false; waiting for 'drain'
  #drainWaiters: (() => void)[] = [];
  #closeWaiters: (() => void)[] = [];
  #reconnectAttempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  // Bytes received and not yet a whole frame; `#needed` is how many make the next step possible.
  #chunks: Buffer[] = [];
  #buffered = 0;
  #needed = 8;

  private constructor(socketPath: string, options: ConnectionOptions) {
    super();
    this.socketPath = socketPath;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs < 0) {
      throw new RangeError(`timeoutMs: ${options.timeoutMs} is not a non-negative number`);
    }
    this.#maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    const r = options.reconnect ?? true;
    this.#reconnect =
      r === false
        ? null
        : {
            initialDelayMs: (r === true ? undefined : r.initialDelayMs) ?? 50,
            maxDelayMs: (r === true ? undefined : r.maxDelayMs) ?? 5_000,
          };
  }

  /** Opens the socket; fails with `connect` (no retry) when it cannot be opened. */
  static async open(options: ConnectionOptions = {}): Promise<Connection> {
    const connection = new Connection(options.socket ?? defaultSocket(), options);
    connection.#attach(await openSocket(connection.socketPath));
    return connection;
  }

  /** Calls sent or queued, not yet answered. */
  get inFlight(): number {
    return this.#calls.size;
  }

  /** False while requests wait for the socket to drain (or for a new connection). */
  get writable(): boolean {
    return this.#state === "open" && !this.#congested && this.#queue.length === 0;
  }

  /** Resolves when no request waits to be handed to the socket: a producer's way to pace itself. */
  drained(): Promise<void> {
    if (this.#queue.length === 0 && !this.#congested) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Sends one request: `encode` builds its frame for the id given (see encodeRequest). Resolves
   * with the answer, whatever it is (errors included); rejects only with a
   * GatehouseConnectionError.
   */
  call(what: string, encode: (id: number) => Uint8Array, timeoutMs = this.timeoutMs): Promise<Answer> {
    if (this.#state === "closing" || this.#state === "closed") {
      return Promise.reject(
        new GatehouseConnectionError("closed", `${what}: the client is closed; nothing was sent`, false),
      );
    }
    if (this.#state === "reconnecting" && this.#reconnect === null) {
      return Promise.reject(
        new GatehouseConnectionError(
          "disconnected",
          `${what}: the connection to ${this.socketPath} is broken and reconnecting is off; nothing was sent`,
          false,
        ),
      );
    }
    const id = this.#nextId++;
    const frame = encode(id);
    if (this.#queuedBytes + frame.length > this.#maxQueuedBytes) {
      return Promise.reject(
        new GatehouseConnectionError(
          "queueFull",
          `${what}: ${this.#queuedBytes} bytes of requests already wait for the socket ` +
            `(maxQueuedBytes ${this.#maxQueuedBytes}); nothing was sent`,
          false,
        ),
      );
    }
    return new Promise<Answer>((resolve, reject) => {
      const call: Call = { id, what, resolve, reject, timer: undefined, sent: false, done: false };
      if (timeoutMs > 0) call.timer = setTimeout(() => this.#timedOut(call, timeoutMs), timeoutMs);
      this.#calls.set(id, call);
      this.#queue.push({ call, frame });
      this.#queuedBytes += frame.length;
      this.#scheduleFlush();
    });
  }

  /**
   * Stops taking calls, waits until every call made so far is answered or has failed (each within
   * its timeout), then closes the socket. Reconnection stops.
   */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    if (this.#state !== "closing") {
      const wasReconnecting = this.#state === "reconnecting";
      this.#state = "closing";
      clearTimeout(this.#reconnectTimer);
      if (wasReconnecting) {
        // No connection will come: what waits for one fails now.
        this.#failAll((call) => this.#notSent(call, "closed", "the client was closed while reconnecting"));
      }
    }
    if (this.#calls.size > 0) await new Promise<void>((resolve) => this.#closeWaiters.push(resolve));
    this.#finishClose();
  }

  /** Closes at once: every call not yet answered fails with `closed`. */
  destroy(): void {
    if (this.#state === "closed") return;
    this.#state = "closing";
    clearTimeout(this.#reconnectTimer);
    this.#failAll((call) =>
      call.sent
        ? new GatehouseConnectionError(
            "closed",
            `${call.what}: the client was closed before the answer came; it may have been applied`,
            true,
          )
        : this.#notSent(call, "closed", "the client was closed"),
    );
    this.#finishClose();
  }

  // ---- writing ----

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    const socket = this.#socket;
    if (socket === null || this.#congested) return;
    if (this.#state !== "open" && this.#state !== "closing") return;
    const frames: Uint8Array[] = [];
    for (const { call, frame } of this.#queue) {
      if (call.done) continue; // timed out while queued: never sent
      call.sent = true;
      frames.push(frame);
    }
    this.#queue = [];
    this.#queuedBytes = 0;
    if (frames.length > 0) {
      const bytes = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
      if (!socket.write(bytes)) this.#congested = true;
    }
    if (!this.#congested) this.#wakeDrainWaiters();
  }

  #wakeDrainWaiters(): void {
    if (this.#drainWaiters.length === 0) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  // ---- reading ----

  #onData(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered < this.#needed) return;
    const bytes = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks, this.#buffered);
    let offset = 0;
    for (;;) {
      const scan = scanFrame(bytes, offset, ANSWER_LIMITS);
      if (scan.status === "bad") {
        this.#broken(new GatehouseConnectionError("protocol", `undecodable answer from gatehoused: ${scan.error}`, true));
        return;
      }
      if (scan.status === "needMore") {
        this.#needed = scan.bytes;
        break;
      }
      // A view: Node hands each chunk over, and this client never writes into it.
      const frame = bytes.subarray(offset, offset + scan.bytes);
      offset += scan.bytes;
      if (!this.#answer(frame)) return;
    }
    const rest = bytes.length - offset;
    this.#chunks = rest === 0 ? [] : [bytes.subarray(offset)];
    this.#buffered = rest;
  }

  // Hands one answer to its call; false when the connection had to be dropped.
  #answer(frame: Uint8Array): boolean {
    let answer: Answer;
    try {
      const envelope = readEnvelope(frame);
      if (envelope !== null) {
        answer = new Answer(frame, envelope.id, envelope.which);
      } else {
        const root = new Message(new Uint8Array(frame).buffer, false).getRoot(Response);
        answer = new Answer(frame, Number(root.id), root.which(), root);
      }
    } catch (error) {
      this.#broken(new GatehouseConnectionError("protocol", `undecodable answer from gatehoused: ${String(error)}`, true));
      return false;
    }
    const call = this.#calls.get(answer.id);
    if (call === undefined) {
      if (answer.id !== 0) return true; // the answer to a call that timed out: dropped
      // The daemon could not read a request's id: there is no telling which call it answers.
      this.#broken(
        new GatehouseConnectionError(
          "protocol",
          `gatehoused answered a request it could not decode (id 0): ${describe(answer)}`,
          true,
        ),
      );
      return false;
    }
    this.#settle(call);
    call.resolve(answer);
    return true;
  }

  #settle(call: Call): void {
    call.done = true;
    clearTimeout(call.timer);
    this.#calls.delete(call.id);
    if (this.#calls.size === 0 && this.#closeWaiters.length > 0) {
      const waiters = this.#closeWaiters;
      this.#closeWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  #timedOut(call: Call, timeoutMs: number): void {
    if (call.done) return;
    this.#settle(call);
    call.reject(
      call.sent
        ? new GatehouseConnectionError(
            "timeout",
            `${call.what}: no answer within ${timeoutMs} ms (the daemon is overloaded or stuck); ` +
              `the request may still be applied and is not resent`,
            true,
          )
        : this.#notSent(call, "timeout", `not sent within ${timeoutMs} ms (${this.#waitingFor()})`),
    );
  }

  #waitingFor(): string {
    return this.#state === "reconnecting"
      ? `no connection to ${this.socketPath}: reconnecting`
      : "the socket stayed full";
  }

  #notSent(call: Call, reason: "timeout" | "closed" | "disconnected", why: string): GatehouseConnectionError {
    return new GatehouseConnectionError(reason, `${call.what}: ${why}; nothing was sent`, false);
  }

  // ---- the socket's life ----

  #attach(socket: net.Socket): void {
    this.#socket = socket;
    this.#congested = false;
    this.#chunks = [];
    this.#buffered = 0;
    this.#needed = 8;
    socket.setNoDelay?.(true);
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("drain", () => {
      this.#congested = false;
      this.#flush();
    });
    socket.on("error", (error) => this.#broken(error));
    socket.on("close", () =>
      this.#broken(new Error(`gatehoused closed the connection`)),
    );
    this.#scheduleFlush();
  }

  // The connection is gone: calls sent on it fail; calls not sent wait for the next one.
  #broken(cause: Error): void {
    const socket = this.#socket;
    if (socket === null) return;
    this.#socket = null;
    socket.removeAllListeners();
    socket.on("error", () => {}); // a late error from a socket we dropped
    socket.destroy();
    if (this.#state === "closed") return;
    const why =
      cause instanceof GatehouseConnectionError ? cause.message : `the connection to ${this.socketPath} broke (${cause.message})`;
    for (const call of [...this.#calls.values()]) {
      if (!call.sent) continue;
      this.#settle(call);
      call.reject(
        new GatehouseConnectionError(
          "disconnected",
          `${call.what}: ${why} before the answer came; the request may have been applied and is not resent`,
          true,
          { cause },
        ),
      );
    }
    if (this.#state === "closing") {
      this.#failAll((call) => this.#notSent(call, "closed", "the connection broke while the client was closing"));
      return;
    }
    this.#state = "reconnecting";
    this.#congested = false;
    this.emit("disconnected", cause);
    if (this.#reconnect === null) {
      this.#failAll((call) => this.#notSent(call, "disconnected", `${why}, and reconnecting is off`));
      return;
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const r = this.#reconnect!;
    const base = Math.min(r.maxDelayMs, r.initialDelayMs * 2 ** Math.min(this.#reconnectAttempt, 30));
    const delay = base / 2 + Math.random() * (base / 2); // jitter: many clients do not retry in step
    this.#reconnectAttempt++;
    this.#reconnectTimer = setTimeout(() => {
      openSocket(this.socketPath).then(
        (socket) => {
          if (this.#state !== "reconnecting") {
            socket.destroy();
            return;
          }
          this.#state = "open";
          this.#reconnectAttempt = 0;
          this.#attach(socket);
          this.emit("reconnected");
        },
        () => {
          if (this.#state === "reconnecting") this.#scheduleReconnect();
        },
      );
    }, delay);
  }

  #failAll(error: (call: Call) => Error): void {
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const call of [...this.#calls.values()]) {
      this.#settle(call);
      call.reject(error(call));
    }
    this.#wakeDrainWaiters();
  }

  #finishClose(): void {
    this.#state = "closed";
    const socket = this.#socket;
    this.#socket = null;
    if (socket !== null) {
      socket.removeAllListeners();
      socket.on("error", () => {});
      socket.end();
      socket.destroy();
    }
    this.#wakeDrainWaiters();
  }
}

function describe(answer: Answer): string {
  try {
    if (answer.root._isError) return answer.root.error.message;
  } catch {
    // fall through
  }
  return "no message";
}
