// Assertions on the client's errors.
import assert from "node:assert/strict";

import { GatehouseConnectionError, GatehouseError, type ConnectionFailure, type ErrorCode } from "../src/index.js";

/** Asserts that `p` rejects with a GatehouseError of `code`; returns it for further checks. */
export async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<GatehouseError> {
  try {
    await p;
  } catch (error) {
    assert.ok(error instanceof GatehouseError, `expected a GatehouseError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a GatehouseError ${code}, but the call succeeded`);
}

/** Asserts that `p` rejects with a GatehouseConnectionError of `reason`. */
export async function failsWith(p: Promise<unknown>, reason: ConnectionFailure): Promise<GatehouseConnectionError> {
  try {
    await p;
  } catch (error) {
    assert.ok(error instanceof GatehouseConnectionError, `expected a connection error ${reason}, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    return error;
  }
  assert.fail(`expected a connection error ${reason}, but the call succeeded`);
}
