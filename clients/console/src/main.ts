// gatehouse-console: serves the console on 127.0.0.1 against a gatehoused socket.
//   node dist/src/main.js [--socket PATH] [--port N] [--idle-seconds N] [--secure-cookie]
// The socket defaults as the CLI's does (./var/gatehouse.sock in a checkout, else
// /run/gatehouse/gatehouse.sock); the peer must map to the admin access class (the console sends
// management requests for its users).
import { parseArgs } from "node:util";
import { connect } from "@gatehouse/client";
import { startConsole } from "./server.js";

const { values } = parseArgs({
  options: {
    socket: { type: "string" },
    port: { type: "string", default: "8080" },
    "idle-seconds": { type: "string", default: "1800" },
    "secure-cookie": { type: "boolean", default: false },
  },
});

const port = Number(values.port);
const idleSeconds = Number(values["idle-seconds"]);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: ${values.port} is not a port`);
if (!Number.isInteger(idleSeconds) || idleSeconds <= 0) throw new Error(`--idle-seconds: ${values["idle-seconds"]} is not a positive integer`);

const client = await connect({ timeoutMs: 10_000, ...(values.socket === undefined ? {} : { socket: values.socket }) });
client.on("disconnected", (e: Error) => console.error(`gatehoused: ${e.message}; reconnecting`));
const running = await startConsole({ client, port, idleSeconds, secureCookie: values["secure-cookie"] });
console.log(`gatehouse console: ${running.url}/ (gatehoused at ${client.socket})`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void running.close().then(() => client.close()).then(() => process.exit(0));
  });
}
