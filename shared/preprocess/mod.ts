/**
 * Files to rows: images ({@linkcode decodeImage}, {@linkcode preprocessImage})
 * and text ({@linkcode tokenize}, {@linkcode hashToken}, {@linkcode encodeText}).
 *
 * @example
 * ```ts
 * import { encodeText } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const row = encodeText("to be", { vocabSize: 100, maxLength: 3, lowercase: true });
 * assert.equal(row.length, 3);
 * ```
 * @module
 */
export * from "./image.ts";
export * from "./text.ts";
