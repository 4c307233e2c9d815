/**
 * The number formats of the update codecs, over plain arrays: IEEE half
 * floats (with and without a native Float16Array), int8 quantization by
 * chunks, and the indices of the k largest magnitudes.
 * @module
 */

/** A malformed compressed update. */
export class CodecError extends SyntaxError {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "CodecError";
  }
}

const hasFloat16 = typeof (globalThis as { Float16Array?: unknown }).Float16Array === "function";
type Float16ArrayCtor = new (length: number | ArrayBufferLike) => Float32Array;
const Float16 = (globalThis as unknown as { Float16Array: Float16ArrayCtor }).Float16Array;

/** float32 → IEEE half bits (round to nearest even), for runtimes without Float16Array. */
function toHalfBits(value: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = value;
  const x = u[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
  e = half >>> 10;
  return sign | half;
}

let halfTable: Float32Array | null = null;
/** Every half's float32 value, by its bits. */
function halfToFloat(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    halfTable[h] = exp === 0
      ? sign * mant * 2 ** -24
      : exp === 0x1f
      ? (mant ? NaN : sign * Infinity)
      : sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return halfTable;
}

/**
 * float32 values as IEEE half bits.
 *
 * @example
 * ```ts
 * import { decodeHalf, encodeHalf } from "./codec.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual([...decodeHalf(encodeHalf(Float32Array.of(1, -2.5, 65504)))], [1, -2.5, 65504]);
 * ```
 */
export function encodeHalf(values: Float32Array, options: { native?: boolean } = {}): Uint16Array {
  if (hasFloat16 && options.native !== false) {
    const half = new Float16(values.length);
    half.set(values);
    return new Uint16Array(half.buffer);
  }
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toHalfBits(values[i]!);
  return out;
}

/** IEEE half bits as float32 values. */
export function decodeHalf(bits: Uint16Array, options: { native?: boolean } = {}): Float32Array {
  if (hasFloat16 && options.native !== false) {
    return Float32Array.from(new Float16(bits.slice().buffer));
  }
  const table = halfToFloat();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

/** int8 quantization of `values` in chunks of `chunk` elements (0: one chunk). */
export function quantizeInt8(
  values: Float32Array,
  chunk: number,
): { q: Int8Array; scale: Float32Array; zeroPoint: Float32Array } {
  const size = chunk > 0 ? chunk : Math.max(1, values.length);
  const chunks = Math.max(1, Math.ceil(values.length / size));
  const q = new Int8Array(values.length);
  const scale = new Float32Array(chunks);
  const zeroPoint = new Float32Array(chunks);
  for (let c = 0; c < chunks; c++) {
    const begin = c * size;
    const end = Math.min(values.length, begin + size);
    let lo = 0;
    let hi = 0; // the range always holds 0, so 0 stays exact
    for (let i = begin; i < end; i++) {
      const v = values[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const s = hi > lo ? Math.fround((hi - lo) / 255) : 1;
    const zp = Math.min(127, Math.max(-128, Math.round(-128 - lo / s)));
    scale[c] = s;
    zeroPoint[c] = zp;
    const inv = 1 / s;
    for (let i = begin; i < end; i++) {
      const v = Math.round(values[i]! * inv) + zp;
      q[i] = v < -128 ? -128 : v > 127 ? 127 : v;
    }
  }
  return { q, scale, zeroPoint };
}

/** The float32 values of an int8 quantization. */
export function dequantizeInt8(
  q: Int8Array,
  scale: Float32Array,
  zeroPoint: Float32Array,
  chunk: number,
): Float32Array {
  const size = chunk > 0 ? chunk : Math.max(1, q.length);
  const out = new Float32Array(q.length);
  for (let c = 0; c < scale.length; c++) {
    const s = scale[c]!;
    const zp = zeroPoint[c]!;
    const end = Math.min(q.length, (c + 1) * size);
    for (let i = c * size; i < end; i++) out[i] = s * (q[i]! - zp);
  }
  return out;
}

/** Indices of the k largest |values|, ascending. */
export function topKIndices(values: Float32Array, k: number): Int32Array {
  const n = values.length;
  if (k >= n) return Int32Array.from({ length: n }, (_, i) => i);
  if (k <= 0) return new Int32Array(0);
  const magnitudes = new Float32Array(n);
  for (let i = 0; i < n; i++) magnitudes[i] = Math.abs(values[i]!);
  const sorted = magnitudes.slice().sort();
  const threshold = sorted[n - k]!;
  // Strictly above the threshold first, then ties at it, up to k.
  let above = 0;
  for (let i = 0; i < n; i++) if (magnitudes[i]! > threshold) above++;
  let ties = k - above;
  const out = new Int32Array(k);
  let j = 0;
  for (let i = 0; i < n && j < k; i++) {
    const m = magnitudes[i]!;
    if (m > threshold || (m === threshold && ties-- > 0)) out[j++] = i;
  }
  return out;
}
