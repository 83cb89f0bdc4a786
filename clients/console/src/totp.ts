// RFC 6238 TOTP codes (HMAC-SHA1, 6 digits, 30 s steps) from an otpauth:// URI, as an
// authenticator app computes them: for the demo (scripts/console prints how to get the code) and
// the browser tests. Run as a program it prints the current code of the URI given.
//   node dist/src/totp.js 'otpauth://totp/...?secret=...'
import { createHmac } from "node:crypto";
import { argv } from "node:process";
import { fileURLToPath } from "node:url";

export function base32Decode(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of text.replace(/=+$/, "").toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`base32: '${c}' is not a base32 character`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function secretOf(uri: string): Buffer {
  const secret = new URL(uri).searchParams.get("secret");
  if (secret === null) throw new Error("the otpauth URI has no secret");
  return base32Decode(secret);
}

/** The code for the time step holding `unixSeconds`. */
export function totpCode(secret: Buffer, unixSeconds: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac("sha1", secret).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return code.toString().padStart(6, "0");
}

if (argv[1] !== undefined && fileURLToPath(import.meta.url) === argv[1]) {
  const uri = argv[2];
  if (uri === undefined) {
    console.error("usage: node dist/src/totp.js OTPAUTH_URI");
    process.exit(2);
  }
  console.log(totpCode(secretOf(uri), Date.now() / 1000));
}
