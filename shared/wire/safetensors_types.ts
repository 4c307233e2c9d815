/**
 * The safetensors format's types: its dtypes and their sizes, a float32
 * tensor, a decoded file, a header and its entries, the decoder's options
 * and its error.
 * @module
 */

/**
 * Element dtype names of safetensors and their byte sizes.
 *
 * @example
 * ```ts
 * import { DTYPE_SIZES } from "./safetensors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DTYPE_SIZES["F32"], 4);
 * assert.equal(DTYPE_SIZES["BF16"], 2);
 * ```
 */
export const DTYPE_SIZES: Readonly<Record<string, number>> = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
});

/**
 * A dense row-major float32 tensor.
 *
 * @example
 * ```ts
 * import type { Float32Tensor } from "./safetensors.ts";
 *
 * const t: Float32Tensor = { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
 * ```
 */
export interface Float32Tensor {
  /** Dimensions; `[]` is a scalar. */
  shape: number[];
  /** Elements in row-major order; length is the product of `shape`. */
  data: Float32Array;
}

/**
 * Decoded safetensors content.
 *
 * @example
 * ```ts
 * import type { Safetensors } from "./safetensors.ts";
 *
 * const st: Safetensors = { tensors: new Map(), metadata: { format: "pt" } };
 * ```
 */
export interface Safetensors {
  /** Tensors in header (data offset) order. */
  tensors: Map<string, Float32Tensor>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

/**
 * Options of {@linkcode decodeSafetensors} and {@linkcode readSafetensorsHeader}.
 *
 * @example
 * ```ts
 * import type { DecodeSafetensorsOptions } from "./safetensors.ts";
 *
 * const options: DecodeSafetensorsOptions = { maxHeaderBytes: 1024 };
 * ```
 */
export interface DecodeSafetensorsOptions {
  /**
   * Largest accepted header length N in bytes.
   * @default 16 * 1024 * 1024
   */
  maxHeaderBytes?: number;
}

/**
 * One tensor entry of a safetensors header.
 *
 * @example
 * ```ts
 * import type { SafetensorsHeaderEntry } from "./safetensors.ts";
 *
 * const e: SafetensorsHeaderEntry = { dtype: "F32", shape: [2], dataOffsets: [0, 8] };
 * ```
 */
export interface SafetensorsHeaderEntry {
  /** Dtype name, a key of {@linkcode DTYPE_SIZES}. */
  dtype: string;
  /** Dimensions. */
  shape: number[];
  /** `[begin, end)` byte range relative to `dataStart`. */
  dataOffsets: [number, number];
}

/**
 * Result of {@linkcode readSafetensorsHeader}.
 *
 * @example
 * ```ts
 * import type { SafetensorsHeader } from "./safetensors.ts";
 *
 * const h: SafetensorsHeader = { entries: new Map(), metadata: {}, dataStart: 16 };
 * ```
 */
export interface SafetensorsHeader {
  /** Tensor entries in data offset order. */
  entries: Map<string, SafetensorsHeaderEntry>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
  /** Absolute byte offset of the data buffer, `8 + N`. */
  dataStart: number;
}

/**
 * Thrown when bytes are not a valid (or not a supported) safetensors file.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, SafetensorsError } from "./safetensors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => decodeSafetensors(new Uint8Array(3)), SafetensorsError);
 * ```
 */
export class SafetensorsError extends SyntaxError {
  /** Creates the error; `detail` follows the `Cannot decode safetensors: ` prefix. */
  constructor(detail: string) {
    super(`Cannot decode safetensors: ${detail}`);
    this.name = "SafetensorsError";
  }
}
