// Generates src/gen/gatehouse.ts from schema/gatehouse.capnp with capnp-es, at build time (nothing
// generated is committed). Runs Debian's `capnp compile -o-` for the code generator request and
// hands it to capnp-es's compiler, so no standard input is read and the output path is ours.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { compileAll } from "capnp-es/compiler";

const here = dirname(fileURLToPath(import.meta.url));
const schemaDir = resolve(here, "../../../schema");
const outDir = resolve(here, "../src/gen");

let request;
try {
  request = execFileSync(
    "capnp",
    ["compile", "-o-", `--src-prefix=${schemaDir}`, join(schemaDir, "gatehouse.capnp")],
    { maxBuffer: 64 << 20 },
  );
} catch (error) {
  const why = error.code === "ENOENT" ? "capnp is not installed (apt-get install capnproto)" : error.message;
  console.error(`generate: capnp compile failed: ${why}`);
  process.exit(1);
}
const { files } = await compileAll(request, { ts: true });
mkdirSync(outDir, { recursive: true });
for (const [name, content] of files) {
  if (!name.endsWith(".ts")) continue;
  const path = join(outDir, name.replace(/^.*\//, ""));
  writeFileSync(path, `// Generated from schema/gatehouse.capnp by scripts/generate.mjs. Do not edit.\n${content}`);
  console.log(`generate: ${path}`);
}
