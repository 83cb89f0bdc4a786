// Server-side sessions for the console, in memory (one console process; a restart signs everyone
// out). The cookie carries `<id>.<secret>`: the id finds the record, the secret is compared with the
// stored SHA-256 of it in constant time, so neither a Map lookup's timing nor a leaked record
// reveals a usable cookie. Every session — also the anonymous one that carries the sign-in form's
// CSRF token — has a CSRF token, compared in constant time too. Sessions expire on the server:
// after `idleSeconds` without a request and `absoluteSeconds` after sign-in, whatever the browser
// keeps. Signing in replaces the anonymous session by a new one (no fixation).
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export interface Flash {
  kind: "ok" | "error";
  text: string;
  /** Permissions an `escalation` or `forbidden` named. */
  missing?: readonly string[];
  /** A new API key: shown once, on the next page, then forgotten. */
  secret?: { account: string; key: string };
}

export interface Session {
  readonly id: string;
  readonly secretHash: Buffer;
  readonly csrf: string;
  readonly createdAt: number;
  lastSeenAt: number;
  /** The signed-in user; undefined for an anonymous session (the sign-in form). */
  user?: { id: bigint; name: string };
  company: bigint;
  flash?: Flash;
}

export interface SessionOptions {
  idleSeconds: number;
  absoluteSeconds: number;
  /** The most sessions kept; past it the least recently used is dropped. */
  maxSessions: number;
}

export const COOKIE = "gh_console";

function sha256(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** Constant-time equality of two strings of any lengths (compares their SHA-256). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

export class Sessions {
  readonly #byId = new Map<string, Session>();
  readonly #options: SessionOptions;
  readonly #now: () => number;

  constructor(options: SessionOptions, now: () => number = () => Date.now() / 1000) {
    this.#options = options;
    this.#now = now;
  }

  /** A new session and the cookie value that names it. */
  create(user?: { id: bigint; name: string }, company = 0n): { session: Session; cookie: string } {
    const id = randomBytes(12).toString("base64url");
    const secret = randomBytes(32).toString("base64url");
    const now = this.#now();
    const session: Session = {
      id,
      secretHash: sha256(secret),
      csrf: randomBytes(32).toString("base64url"),
      createdAt: now,
      lastSeenAt: now,
      company,
      ...(user === undefined ? {} : { user }),
    };
    this.#byId.set(id, session);
    this.#evict();
    return { session, cookie: `${id}.${secret}` };
  }

  /** The live session a cookie value names, or undefined (unknown, forged or expired). */
  find(cookie: string | undefined): Session | undefined {
    if (cookie === undefined) return undefined;
    const dot = cookie.indexOf(".");
    if (dot <= 0) return undefined;
    const session = this.#byId.get(cookie.slice(0, dot));
    if (session === undefined) return undefined;
    if (!timingSafeEqual(sha256(cookie.slice(dot + 1)), session.secretHash)) return undefined;
    const now = this.#now();
    if (now - session.lastSeenAt > this.#options.idleSeconds || now - session.createdAt > this.#options.absoluteSeconds) {
      this.#byId.delete(session.id);
      return undefined;
    }
    session.lastSeenAt = now;
    // Most recently used last, for eviction.
    this.#byId.delete(session.id);
    this.#byId.set(session.id, session);
    return session;
  }

  destroy(session: Session): void {
    this.#byId.delete(session.id);
  }

  get size(): number {
    return this.#byId.size;
  }

  #evict(): void {
    while (this.#byId.size > this.#options.maxSessions) {
      const oldest = this.#byId.keys().next();
      if (oldest.done === true) return;
      this.#byId.delete(oldest.value);
    }
  }
}

export function cookieHeader(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? "; Secure" : ""}`;
}

export function clearCookieHeader(secure: boolean): string {
  return `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? "; Secure" : ""}`;
}

export function readCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}
