// The authorize hot path without capnp-es's per-message allocations (a 4 KiB arena per message
// built, a Message and pointer objects per message read: about 14 µs and 10 µs per request on the
// 2-core development machine, most of a Node controller's cost per check).
//
// - `encodeAuthorize` writes a Request { id, authorize: AuthorizeQuery } frame at the layout the
//   schema fixes (fields are only ever added, so these offsets never move); the bytes are the
//   ones capnp-es builds (tested byte for byte in test/hot_path.test.ts).
// - `readEnvelope` reads an answer's id and union member, and `readDecision` a Decision, from the
//   single-segment shape the daemon builds. Anything else (several segments, far pointers, a
//   struct smaller than this schema's) returns null, and the caller reads it with capnp-es.
//
// Offsets below come from the generated code (src/gen/gatehouse.ts): Request is 7 data words and
// 1 pointer, its id at byte 0 and its union's discriminant at byte 8; AuthorizeQuery is 2 data
// words (principal, company) and 1 pointer (permission); Response has its id at byte 0 and its
// discriminant at byte 8; Decision has `allowed` at bit 0, `reason` at byte 2, `revision` at byte 8.
import { Request_Which } from "./gen/gatehouse.js";

const REQUEST_DATA_WORDS = 7;
const REQUEST_POINTERS = 1;
const QUERY_DATA_WORDS = 2;
const QUERY_POINTERS = 1;

/** One framed Request { id, authorize { principal, company, permission } }. */
export function encodeAuthorize(id: number, principal: bigint, company: bigint, permission: string): Buffer {
  const textBytes = Buffer.byteLength(permission, "utf8") + 1; // NUL-terminated
  const textWords = (textBytes + 7) >>> 3;
  const segmentWords = 1 + REQUEST_DATA_WORDS + REQUEST_POINTERS + QUERY_DATA_WORDS + QUERY_POINTERS + textWords;
  const frame = Buffer.alloc(8 + segmentWords * 8);
  // Segment table: one segment (count - 1 = 0), its size in words.
  frame.writeUInt32LE(segmentWords, 4);
  const root = 8;
  // Root pointer: a struct right after it (offset 0), its data and pointer section sizes.
  frame.writeUInt16LE(REQUEST_DATA_WORDS, root + 4);
  frame.writeUInt16LE(REQUEST_POINTERS, root + 6);
  const request = root + 8;
  frame.writeBigUInt64LE(BigInt(id), request);
  frame.writeUInt16LE(Request_Which.AUTHORIZE, request + 8);
  // The union's pointer: the AuthorizeQuery right after it.
  const queryPointer = request + REQUEST_DATA_WORDS * 8;
  frame.writeUInt16LE(QUERY_DATA_WORDS, queryPointer + 4);
  frame.writeUInt16LE(QUERY_POINTERS, queryPointer + 6);
  const query = queryPointer + 8;
  frame.writeBigUInt64LE(principal, query);
  frame.writeBigUInt64LE(company, query + 8);
  // The permission: a list pointer (type 1, offset 0) of bytes (element size 2) with the NUL.
  const textPointer = query + QUERY_DATA_WORDS * 8;
  frame.writeUInt32LE(1, textPointer);
  frame.writeUInt32LE(((textBytes << 3) | 2) >>> 0, textPointer + 4);
  frame.write(permission, textPointer + 8, "utf8");
  return frame;
}

/** Where an answer's root struct is, and what it is. */
export interface Envelope {
  readonly id: number; // ids above 2^53 (never sent by this client) read as NaN
  readonly which: number;
  readonly root: number; // byte offset of the root struct's data section in the frame
  readonly dataWords: number;
  readonly pointers: number;
}

function u32(frame: Uint8Array, at: number): number {
  return (frame[at]! | (frame[at + 1]! << 8) | (frame[at + 2]! << 16) | (frame[at + 3]! << 24)) >>> 0;
}

function u16(frame: Uint8Array, at: number): number {
  return frame[at]! | (frame[at + 1]! << 8);
}

function u64(frame: Uint8Array, at: number): bigint {
  const lo = u32(frame, at);
  const hi = u32(frame, at + 4);
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

// The struct a struct pointer at `at` points to, within one segment ending at `end`; null for any
// other pointer (null, list, far, capability) or one out of bounds.
function struct(frame: Uint8Array, at: number, end: number): { start: number; dataWords: number; pointers: number } | null {
  const lower = u32(frame, at);
  if ((lower & 3) !== 0 || (lower === 0 && u32(frame, at + 4) === 0)) return null;
  const offsetWords = (lower | 0) >> 2;
  const start = at + 8 + offsetWords * 8;
  const dataWords = u16(frame, at + 4);
  const pointers = u16(frame, at + 6);
  if (start < 8 || start + (dataWords + pointers) * 8 > end) return null;
  return { start, dataWords, pointers };
}

/** The id and union member of a framed Response, or null when it is not the simple shape. */
export function readEnvelope(frame: Uint8Array): Envelope | null {
  if (frame.length < 16 || u32(frame, 0) !== 0) return null; // one segment only
  const end = 8 + u32(frame, 4) * 8;
  if (end > frame.length) return null;
  const root = struct(frame, 8, end);
  if (root === null || root.dataWords < 2) return null;
  const id = u32(frame, root.start) + u32(frame, root.start + 4) * 2 ** 32;
  return { id, which: u16(frame, root.start + 8), root: root.start, dataWords: root.dataWords, pointers: root.pointers };
}

export interface FastDecision {
  allowed: boolean;
  reason: number;
  revision: bigint;
}

/** The Decision of an `authorize` answer, or null when it is not the simple shape. */
export function readDecision(frame: Uint8Array, envelope: Envelope): FastDecision | null {
  if (envelope.pointers < 1) return null;
  const end = 8 + u32(frame, 4) * 8;
  const decision = struct(frame, envelope.root + envelope.dataWords * 8, end);
  if (decision === null || decision.dataWords < 2) return null;
  return {
    allowed: (frame[decision.start]! & 1) === 1,
    reason: u16(frame, decision.start + 2),
    revision: u64(frame, decision.start + 8),
  };
}
