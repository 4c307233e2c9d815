/**
 * A tensor's element count, the one helper for it everywhere.
 * @module
 */

/**
 * The number of elements of a tensor of `shape` (1 for a scalar's `[]`).
 *
 * @example
 * ```ts
 * import { elementCount } from "./shape.ts";
 * import assert from "node:assert/strict";
 * assert.equal(elementCount([784, 128]), 100352);
 * assert.equal(elementCount([]), 1);
 * ```
 */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
