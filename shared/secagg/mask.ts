/**
 * Masks for secure aggregation: a 256-bit seed expanded into a vector of
 * integers modulo 2^bits by AES-256 in counter mode (WebCrypto), the stream
 * of a zero counter block over zero bytes. The same seed gives the same mask
 * in every runtime (Deno, Node.js, browsers).
 * @module
 */

/** Bytes of a mask seed (AES-256 key). */
export const SEED_BYTES = 32;

/**
 * The AES-256-CTR keystream of `seed` (counter block 0, the whole 128-bit
 * block counting) as `length` little-endian 32-bit words, each reduced
 * modulo 2^bits.
 *
 * @example
 * ```ts
 * import { expandMask } from "./mask.ts";
 * import assert from "node:assert/strict";
 * const seed = new Uint8Array(32).fill(7);
 * const a = await expandMask(seed, 1000, 32);
 * assert.deepEqual(a, await expandMask(seed, 1000, 32));
 * assert.ok(a.some((v) => v !== 0));
 * ```
 */
export async function expandMask(
  seed: Uint8Array,
  length: number,
  bits: number,
): Promise<Uint32Array> {
  if (seed.byteLength !== SEED_BYTES) {
    throw new RangeError(
      `Cannot expand a mask: the seed has ${seed.byteLength} bytes, not ${SEED_BYTES}`,
    );
  }
  const key = await crypto.subtle.importKey(
    "raw",
    seed as Uint8Array<ArrayBuffer>,
    "AES-CTR",
    false,
    [
      "encrypt",
    ],
  );
  const stream = await keystream(key, new Uint8Array(16), length * 4);
  const words = new Uint32Array(length);
  const view = new DataView(stream);
  const mask = bits === 32 ? 0xffffffff : 2 ** bits - 1;
  for (let i = 0; i < length; i++) words[i] = (view.getUint32(4 * i, true) & mask) >>> 0;
  return words;
}

/**
 * `bytes` of AES-CTR keystream under `key` from the counter block `counter`
 * (the XOR of the cipher with zeros), in chunks so that any length works.
 */
export async function keystream(
  key: CryptoKey,
  counter: Uint8Array,
  bytes: number,
): Promise<ArrayBuffer> {
  const out = new Uint8Array(bytes);
  // One call per 64 MiB; each chunk starts at its own block number.
  const chunk = 64 * 1024 * 1024;
  for (let offset = 0; offset < bytes; offset += chunk) {
    const size = Math.min(chunk, bytes - offset);
    const block = addToCounter(counter, offset / 16);
    const encrypted = await crypto.subtle.encrypt(
      { name: "AES-CTR", counter: block as Uint8Array<ArrayBuffer>, length: 128 },
      key,
      new Uint8Array(size),
    );
    out.set(new Uint8Array(encrypted), offset);
  }
  return out.buffer;
}

/** The 128-bit big-endian counter block `counter + n`. */
function addToCounter(counter: Uint8Array, n: number): Uint8Array {
  const out = Uint8Array.from(counter);
  let carry = n;
  for (let i = 15; i >= 0 && carry > 0; i--) {
    const sum = out[i]! + (carry % 256);
    out[i] = sum % 256;
    carry = Math.floor(carry / 256) + (sum >= 256 ? 1 : 0);
  }
  return out;
}
