// @gatehouse/client: a TypeScript client for gatehoused over its Unix socket.
//
//   import { connect } from "@gatehouse/client";
//   const gh = await connect({ socket: "/run/gatehouse/gatehouse.sock", timeoutMs: 2000 });
//   const { allowed, reason } = await gh.authorize({ principal: 7n, company: 2n, permission: "routers.reboot" });
//
// See README.md for the API, docs/protocol.md for the wire protocol it speaks.
export { Client, connect, type CallOptions, type ChangeOptions, type ChangeResult, type ClientOptions } from "./client.js";
export { CHECKOUT_SOCKET, SYSTEM_SOCKET, defaultSocket, type ReconnectOptions } from "./connection.js";
export { GatehouseConnectionError, GatehouseError, type ConnectionFailure } from "./errors.js";
export { scanFrame, type FrameLimits, type FrameScan } from "./framing.js";
export * from "./types.js";
export * as wire from "./gen/gatehouse.js";
