// Without a daemon: framing, the hot path's encoder and readers against capnp-es, and the client's
// coverage of the schema (every request has a method, every enum its names).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Message } from "capnp-es";

import { Client } from "../src/client.js";
import { encodeRequest } from "../src/connection.js";
import { scanFrame } from "../src/framing.js";
import * as wire from "../src/gen/gatehouse.js";
import { encodeAuthorize, readDecision, readEnvelope } from "../src/hot_path.js";
import {
  CHANNELS,
  CREDENTIAL_REFUSALS,
  DENY_REASONS,
  ENTITY_KINDS,
  ERROR_CODES,
  KEY_STATES,
  METRIC_TYPES,
  PRINCIPAL_KINDS,
  PRINCIPAL_STATES,
  RELATIONS,
} from "../src/types.js";

const limits = { maxFrameBytes: 1 << 20, maxSegments: 64 };

function u32s(...values: number[]): Uint8Array {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32LE(v >>> 0, i * 4));
  return b;
}

describe("scanFrame", () => {
  test("asks for the segment table, then the whole frame", () => {
    assert.deepEqual(scanFrame(new Uint8Array(0), 0, limits), { status: "needMore", bytes: 8 });
    assert.deepEqual(scanFrame(u32s(1), 0, limits), { status: "needMore", bytes: 16 }); // 2 segments
    assert.deepEqual(scanFrame(u32s(0, 2), 0, limits), { status: "needMore", bytes: 24 });
    const whole = Buffer.concat([u32s(0, 2), Buffer.alloc(16)]);
    assert.deepEqual(scanFrame(whole, 0, limits), { status: "frame", bytes: 24 });
  });

  test("scans from an offset, and a frame followed by more bytes", () => {
    const two = Buffer.concat([Buffer.alloc(8), u32s(0, 1), Buffer.alloc(8), u32s(0)]);
    assert.deepEqual(scanFrame(two, 8, limits), { status: "frame", bytes: 16 });
  });

  test("refuses too many segments, 0xFFFFFFFF included, before any arithmetic", () => {
    assert.equal(scanFrame(u32s(64), 0, limits).status, "bad");
    assert.equal(scanFrame(u32s(0xffffffff), 0, limits).status, "bad");
    assert.equal(scanFrame(u32s(63), 0, limits).status, "needMore");
  });

  test("refuses a frame declared larger than the limit", () => {
    const scan = scanFrame(u32s(0, (1 << 20) / 8), 0, limits);
    assert.equal(scan.status, "bad");
    assert.match((scan as { error: string }).error, /1048576/);
  });
});

function capnpAuthorize(id: number, principal: bigint, company: bigint, permission: string): Buffer {
  return Buffer.from(
    encodeRequest((r) => {
      const q = r._initAuthorize();
      q.principal = principal;
      q.company = company;
      q.permission = permission;
    })(id),
  );
}

describe("the hot path", () => {
  test("encodes authorize exactly as capnp-es does", () => {
    const cases: [number, bigint, bigint, string][] = [
      [1, 1n, 2n, "routers.read"],
      [2 ** 40, 0xffff_ffff_ffff_ffffn, 0n, "a"],
      [7, 123456789012345n, 42n, ""],
      [8, 5n, 6n, "x".repeat(64)],
      [9, 5n, 6n, "seven77"], // 7 bytes + NUL: exactly one word
      [10, 5n, 6n, "p\u00e9rmission.\u4e2d"], // multi-byte UTF-8
    ];
    for (const [id, principal, company, permission] of cases) {
      assert.deepEqual(
        encodeAuthorize(id, principal, company, permission),
        capnpAuthorize(id, principal, company, permission),
        `authorize ${permission}`,
      );
    }
  });

  function decisionAnswer(id: bigint, allowed: boolean, reason: number, revision: bigint): Uint8Array {
    const m = new Message();
    const r = m.initRoot(wire.Response);
    r.id = id;
    const d = r._initAuthorize();
    d.allowed = allowed;
    d.reason = reason as wire.DenyReason;
    d.revision = revision;
    return new Uint8Array(m.toArrayBuffer());
  }

  test("reads an answer's envelope and decision as capnp-es does", () => {
    for (const [allowed, reason, revision] of [
      [true, 0, 1n],
      [false, 6, 0xffff_ffff_ffff_fff0n],
      [false, 1, 2n ** 32n],
    ] as const) {
      const frame = decisionAnswer(77n, allowed, reason, revision);
      const envelope = readEnvelope(frame);
      assert.ok(envelope !== null);
      assert.equal(envelope.id, 77);
      assert.equal(envelope.which, wire.Response_Which.AUTHORIZE);
      assert.deepEqual(readDecision(frame, envelope), { allowed, reason, revision });
    }
  });

  test("reads other answers' envelopes", () => {
    const m = new Message();
    const r = m.initRoot(wire.Response);
    r.id = 5n;
    const e = r._initError();
    e.code = wire.ErrorCode.NOT_OWNER;
    e.message = "serviceAccount: owned by company 1";
    const envelope = readEnvelope(new Uint8Array(m.toArrayBuffer()));
    assert.equal(envelope?.which, wire.Response_Which.ERROR);
    assert.equal(envelope?.id, 5);
  });

  test("declines shapes it does not read, for capnp-es to read", () => {
    // Two segments.
    assert.equal(readEnvelope(Buffer.concat([u32s(1, 1, 1, 0), Buffer.alloc(16)])), null);
    // A root pointer that is a list, and a null root.
    assert.equal(readEnvelope(Buffer.concat([u32s(0, 3), u32s(1, 0), Buffer.alloc(16)])), null);
    assert.equal(readEnvelope(Buffer.concat([u32s(0, 3), Buffer.alloc(24)])), null);
    // A root struct whose data section is too small to hold the discriminant.
    assert.equal(readEnvelope(Buffer.concat([u32s(0, 2), u32s(0, 1), Buffer.alloc(8)])), null);
    // A root struct that points past the segment.
    assert.equal(readEnvelope(Buffer.concat([u32s(0, 2), u32s(4 << 2, 2), Buffer.alloc(8)])), null);
    // A pong: no pointer to a decision.
    const m = new Message();
    const r = m.initRoot(wire.Response);
    r.pong = true;
    const frame = new Uint8Array(m.toArrayBuffer());
    const envelope = readEnvelope(frame);
    assert.ok(envelope !== null);
    assert.equal(readDecision(frame, envelope), null);
  });
});

describe("coverage of the schema", () => {
  // Requests the client does not offer, and why (README.md, "Not offered").
  const notOffered = new Set(["backup", "acceptDescriptors"]);

  test("every request of the schema has a method, and nothing else pretends to be one", () => {
    const camel = (name: string) => name.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const requests = Object.keys(wire.Request_Which).map(camel);
    const methods = new Set(Object.getOwnPropertyNames(Client.prototype));
    const missing = requests.filter((r) => !notOffered.has(r) && !methods.has(r));
    assert.deepEqual(missing, [], "requests without a method");
    for (const r of notOffered) assert.ok(requests.includes(r), `${r} is no longer in the schema`);
  });

  test("the enums' names are the schema's, in wire order", () => {
    const pairs: [readonly string[], Record<string, number>][] = [
      [ERROR_CODES, wire.ErrorCode],
      [DENY_REASONS, wire.DenyReason],
      [CREDENTIAL_REFUSALS, wire.CredentialRefusal],
      [ENTITY_KINDS, wire.EntityKind],
      [CHANNELS, wire.Channel],
      [PRINCIPAL_KINDS, wire.PrincipalKind],
      [PRINCIPAL_STATES, wire.PrincipalState],
      [KEY_STATES, wire.KeyState],
      [RELATIONS, wire.Relation],
      [METRIC_TYPES, wire.MetricType],
    ];
    for (const [names, generated] of pairs) {
      const expected = Object.entries(generated)
        .sort((a, b) => a[1] - b[1])
        .map(([k]) => k.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));
      assert.deepEqual([...names], expected);
    }
  });
});
