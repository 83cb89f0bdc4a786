// The Node client's side of bench/node: authorize against a running gatehoused from one Node
// process, closed loop like gatehouse-bench (bench/load_generator.cpp): ping-pong (1 in flight) or
// pipelined (64 in flight), over the lookups gatehouse-bench dumped (the same Zipf triples it
// sends). Prints one JSON line: latency percentiles (µs, from the call to its answer),
// throughput, and the Node process's own CPU time per request (user + system), the client's cost.
//
//   node dist/bench/authorize_bench.js --socket PATH --lookups FILE --mode pingpong|pipelined
//        [--requests N] [--seconds S] [--warmup N]
import { readFileSync } from "node:fs";

import { connect, type AuthorizeQuery, type Client } from "../src/index.js";

interface Options {
  socket: string;
  lookups: string;
  mode: "pingpong" | "pipelined";
  requests: number;
  seconds: number;
  warmup: number | undefined;
}

function parse(argv: string[]): Options {
  const o: Options = { socket: "", lookups: "", mode: "pingpong", requests: 100_000, seconds: 10, warmup: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--socket") o.socket = value();
    else if (a === "--lookups") o.lookups = value();
    else if (a === "--mode") {
      const m = value();
      if (m !== "pingpong" && m !== "pipelined") throw new Error(`unknown mode ${m}`);
      o.mode = m;
    } else if (a === "--requests") o.requests = Number(value());
    else if (a === "--seconds") o.seconds = Number(value());
    else if (a === "--warmup") o.warmup = Number(value());
    else throw new Error(`unknown option ${a}`);
  }
  if (o.socket === "" || o.lookups === "") throw new Error("--socket and --lookups are required");
  return o;
}

// "principal company permission" per line, as gatehouse-bench --dump-lookups writes them.
function readLookups(path: string): AuthorizeQuery[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const [p, c, permission] = l.split(" ");
      return { principal: BigInt(p!), company: BigInt(c!), permission: permission! };
    });
}

interface Run {
  latenciesUs: Float64Array;
  completed: number;
}

// Keeps `window` calls in flight until `count` are answered or the deadline passes.
async function run(c: Client, lookups: AuthorizeQuery[], window: number, count: number, deadline: number, first: number): Promise<Run> {
  const latenciesUs = new Float64Array(count);
  let sent = 0;
  let completed = 0;
  const one = async (): Promise<void> => {
    while (sent < count && performance.now() < deadline) {
      const i = sent++;
      const start = performance.now();
      const d = await c.authorize(lookups[(first + i) % lookups.length]!);
      latenciesUs[completed++] = (performance.now() - start) * 1000;
      if (d.reason === "unknownPrincipal") throw new Error("the daemon does not hold the benchmark graph");
    }
  };
  await Promise.all(Array.from({ length: window }, one));
  return { latenciesUs: latenciesUs.subarray(0, completed), completed };
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const lookups = readLookups(o.lookups);
  const window = o.mode === "pingpong" ? 1 : 64;
  const c = await connect({ socket: o.socket, timeoutMs: 60_000 });
  const warmup = o.warmup ?? Math.floor(o.requests / 10);
  await run(c, lookups, window, warmup, Infinity, 0);
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const r = await run(c, lookups, window, o.requests, start + o.seconds * 1000, warmup);
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await c.close();
  const sorted = r.latenciesUs.slice().sort();
  console.log(
    JSON.stringify({
      target: "gatehouse",
      client: "node",
      mode: o.mode,
      workload: "authorize",
      requests: r.completed,
      warmup,
      seconds: Number(seconds.toFixed(3)),
      requests_per_s: Math.round(r.completed / seconds),
      p50_us: Number(percentile(sorted, 0.5).toFixed(2)),
      p90_us: Number(percentile(sorted, 0.9).toFixed(2)),
      p99_us: Number(percentile(sorted, 0.99).toFixed(2)),
      p999_us: Number(percentile(sorted, 0.999).toFixed(2)),
      client_cpu_us_per_request: Number(((cpu.user + cpu.system) / r.completed).toFixed(2)),
    }),
  );
}

main().catch((error: unknown) => {
  console.error(`authorize_bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
});
