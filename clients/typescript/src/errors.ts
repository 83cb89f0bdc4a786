// What a call can fail with. Two kinds, never confused:
//  - GatehouseError: the daemon answered the request with an error value (docs/protocol.md,
//    "Errors"). `code` is the wire code; for `escalation`, `forbidden` and `aboveCeiling`, `missing`
//    lists the permissions concerned. The request had no effect.
//  - GatehouseConnectionError: no answer came (the connection broke, the call timed out, the
//    client's queue was full, the client was closed, or the daemon's bytes made no sense). `sent`
//    says whether the request may have reached the daemon: when it is true, a mutation may have
//    been applied, and the client never resends it.
// A deny is neither: `authorize` answers `{ allowed: false, reason }`.
import type { ErrorCode } from "./types.js";

export class GatehouseError extends Error {
  override readonly name = "GatehouseError";
  /** The wire error code, e.g. "notOwner". */
  readonly code: ErrorCode;
  /** For escalation and forbidden: the permissions the actor lacks; for aboveCeiling: those over
   *  the ceiling. Empty otherwise. */
  readonly missing: readonly string[];
  /** The id the request was sent with. */
  readonly requestId: bigint;

  constructor(code: ErrorCode, message: string, missing: readonly string[], requestId: bigint) {
    super(message === "" ? code : `${code}: ${message}`);
    this.code = code;
    this.missing = missing;
    this.requestId = requestId;
  }
}

export type ConnectionFailure =
  | "connect" // the socket could not be opened
  | "disconnected" // the connection broke before the answer came
  | "timeout" // no answer within the call's timeout
  | "queueFull" // the client's queue of unsent requests is at its limit; nothing was sent
  | "closed" // the client was closed
  | "protocol"; // the daemon's answer could not be read, or was not of the expected kind

export class GatehouseConnectionError extends Error {
  override readonly name = "GatehouseConnectionError";
  readonly reason: ConnectionFailure;
  /** True when the request was handed to the socket: it may have been applied. */
  readonly sent: boolean;

  constructor(reason: ConnectionFailure, message: string, sent: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
    this.sent = sent;
  }
}
