/**
 * Bytes as hex, the one helper for it everywhere.
 * @module
 */

/**
 * Bytes as lowercase hex, two digits a byte.
 *
 * @example
 * ```ts
 * import { toHex } from "./hex.ts";
 * import assert from "node:assert/strict";
 * assert.equal(toHex(Uint8Array.of(0, 15, 255)), "000fff");
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
