// Gives the demo graph's users (scripts/demo) passwords, and sam a TOTP second factor, so that
// the console can be tried: random passwords on every run, printed once to the terminal that ran
// scripts/console (never logged elsewhere). Needs the admin access class on the socket.
//   node dist/src/demo.js --socket var/gatehouse.sock
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { connect } from "@gatehouse/client";

const { values } = parseArgs({ options: { socket: { type: "string" } } });
const gh = await connect({ timeoutMs: 30_000, ...(values.socket === undefined ? {} : { socket: values.socket }) });

const users: [string, string][] = [
  ["alice", "MSP administrator (msp)"],
  ["nadia", "client-north administrator"],
  ["sam", "client-south administrator, with TOTP"],
  ["bob", "client-north operator"],
  ["carol", "client-south viewer"],
];
const lines: string[] = [];
for (const [name, what] of users) {
  const found = await gh.lookup({ kind: "principal", name });
  if (!found.found) throw new Error(`the demo user ${name} does not exist: was scripts/demo loaded?`);
  const password = randomBytes(9).toString("base64url");
  await gh.setPassword({ user: found.id, password });
  lines.push(`  ${name.padEnd(6)} ${password}   ${what}`);
  if (name === "sam") {
    const { uri } = await gh.enrollTotp({ user: found.id });
    lines.push(`         TOTP: add ${uri} to an authenticator app,`);
    lines.push(`         or print the current code with: node clients/console/dist/src/totp.js '${uri}'`);
  }
}
await gh.close();
console.log(`Demo sign-ins (new passwords on every start):\n${lines.join("\n")}`);
