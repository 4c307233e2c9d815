/**
 * The coordinator's WebAssembly SIMD kernels (_fold_kernels.wat): folding
 * f32 values into f64 accumulators, checking values (finite, sum of
 * squares) and dequantizing int8. Each {@linkcode FoldKernel} is an instance
 * with its own memory: its accumulators, and a scratch area that each chunk
 * of input is copied into (the copy is the f32 decode; a chunk is at most
 * 64 KiB, so it stays in cache for the kernel that reads it).
 * @module
 */
import { FOLD_KERNELS_BASE64 } from "./_fold_kernels_wasm.ts";

/** The memory's layout: the scratch area, then the accumulators. */
const SCRATCH = 0;
/** Bytes of the scratch area: the most input one kernel call reads. */
const SCRATCH_BYTES = 256 * 1024;
const ACCUMULATORS = SCRATCH + SCRATCH_BYTES;
const PAGE = 64 * 1024;
/** The most accumulators one instance holds (wasm32 memory is at most 4 GiB). */
const MAX_ACCUMULATORS = (65536 - 4) * (PAGE / 8);
/** A chunk of one source: small enough to stay in cache between its copy and the kernel. */
const CHUNK_BYTES = 64 * 1024;
/** foldMany's block: the values whose accumulators (64 KiB) stay in L2 while every source is folded in. */
const BLOCK_VALUES = 8192;

interface Exports {
  memory: WebAssembly.Memory;
  squares: WebAssembly.Global;
  fold(acc: number, src: number, n: number, weight: number): void;
  check(src: number, n: number): number;
  dequantizeInt8(q: number, out: number, n: number, scale: number, zeroPoint: number): void;
}

let compiled: WebAssembly.Module | null = null;

/** The compiled module, or null where WebAssembly SIMD is not available. */
function kernelModule(): WebAssembly.Module | null {
  if (compiled) return compiled;
  try {
    const bytes = Uint8Array.from(atob(FOLD_KERNELS_BASE64), (c) => c.charCodeAt(0));
    compiled = new WebAssembly.Module(bytes);
  } catch {
    return null;
  }
  return compiled;
}

/** Whether the kernels run here (WebAssembly with SIMD). */
export function foldKernelsAvailable(): boolean {
  return kernelModule() !== null;
}

/** What {@linkcode FoldKernel.check} found. */
export interface CheckResult {
  /** The index of the first value that is not finite, or -1. */
  firstBad: number;
  /** The sum of the squares of the values (when all are finite). */
  squares: number;
}

/**
 * One kernel instance: `size` float64 accumulators (zero at first) and the
 * scratch area.
 *
 * @example
 * ```ts
 * import { FoldKernel } from "./fold_kernels.ts";
 * import assert from "node:assert/strict";
 * const kernel = new FoldKernel(3);
 * kernel.fold(0, Float32Array.of(1, 2, 3), 0.5);
 * assert.deepEqual([...kernel.sums], [0.5, 1, 1.5]);
 * assert.deepEqual(kernel.check(Float32Array.of(3, 4)), { firstBad: -1, squares: 25 });
 * assert.equal(kernel.check(Float32Array.of(1, NaN)).firstBad, 1);
 * ```
 */
export class FoldKernel {
  readonly #exports: Exports;
  readonly #bytes: Uint8Array;
  /** The accumulators (a view of the instance's memory, which never grows after this). */
  readonly sums: Float64Array;

  /** An instance with `size` accumulators; throws where the kernels cannot run. */
  constructor(size = 0) {
    const module = kernelModule();
    if (!module) throw new Error("WebAssembly SIMD is not available");
    if (!(Number.isInteger(size) && size >= 0 && size <= MAX_ACCUMULATORS)) {
      throw new RangeError(`Cannot hold ${size} accumulators (at most ${MAX_ACCUMULATORS})`);
    }
    this.#exports = new WebAssembly.Instance(module).exports as unknown as Exports;
    const memory = this.#exports.memory;
    const pages = Math.ceil((ACCUMULATORS + size * 8) / PAGE);
    if (pages > 1) memory.grow(pages - 1);
    this.#bytes = new Uint8Array(memory.buffer);
    this.sums = new Float64Array(memory.buffer, ACCUMULATORS, size);
  }

  /** `sums[offset + i] += weight * values[i]`, chunk by chunk. */
  fold(offset: number, values: Float32Array, weight: number): void {
    this.foldBytes(
      offset,
      new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
      weight,
    );
  }

  /**
   * {@linkcode fold} over little-endian f32 values given as bytes (a multiple
   * of 4, any alignment): how an update is folded from a stream or a file.
   */
  foldBytes(offset: number, bytes: Uint8Array, weight: number): void {
    const n = bytes.byteLength / 4;
    if (!Number.isInteger(n) || offset < 0 || offset + n > this.sums.length) {
      throw new RangeError(
        `Cannot fold ${bytes.byteLength} bytes at ${offset} into ${this.sums.length} accumulators`,
      );
    }
    for (let done = 0; done < bytes.byteLength; done += CHUNK_BYTES) {
      const chunk = bytes.subarray(done, done + CHUNK_BYTES);
      this.#bytes.set(chunk, SCRATCH);
      this.#exports.fold(
        ACCUMULATORS + (offset + done / 4) * 8,
        SCRATCH,
        chunk.byteLength / 4,
        weight,
      );
    }
  }

  /**
   * {@linkcode foldBytes} for several sources of the same length at once:
   * the same sums, bit for bit, as folding them one after another in this
   * order, but each accumulator is read and written once for all of them
   * (what a group commit's batch of updates costs).
   */
  foldMany(offset: number, sources: readonly { bytes: Uint8Array; weight: number }[]): void {
    if (sources.length === 0) return;
    const length = sources[0]!.bytes.byteLength;
    const n = length / 4;
    if (
      !Number.isInteger(n) || offset < 0 || offset + n > this.sums.length ||
      sources.some((s) => s.bytes.byteLength !== length)
    ) {
      throw new RangeError(
        `Cannot fold ${sources.length} sources of ${length} bytes at ${offset} into ${this.sums.length} accumulators`,
      );
    }
    // Block by block, each source's block copied into the scratch area in turn:
    // the block's accumulators stay in cache for all the sources.
    const perCopy = SCRATCH_BYTES / (BLOCK_VALUES * 4);
    for (let start = 0; start < n; start += BLOCK_VALUES) {
      const count = Math.min(BLOCK_VALUES, n - start);
      const acc = ACCUMULATORS + (offset + start) * 8;
      for (let j = 0; j < sources.length; j += perCopy) {
        const group = sources.slice(j, j + perCopy);
        group.forEach((s, g) =>
          this.#bytes.set(
            s.bytes.subarray(start * 4, (start + count) * 4),
            SCRATCH + g * BLOCK_VALUES * 4,
          )
        );
        group.forEach((s, g) =>
          this.#exports.fold(acc, SCRATCH + g * BLOCK_VALUES * 4, count, s.weight)
        );
      }
    }
  }

  /** The first value that is not finite, and the sum of squares, of `values`. */
  check(values: Float32Array): CheckResult {
    return this.checkBytes(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }

  /** {@linkcode check} over little-endian f32 values given as bytes (a multiple of 4). */
  checkBytes(bytes: Uint8Array): CheckResult {
    if (bytes.byteLength % 4 !== 0) {
      throw new RangeError(`Cannot check ${bytes.byteLength} bytes: not whole f32 values`);
    }
    this.#exports.squares.value = 0;
    for (let done = 0; done < bytes.byteLength; done += CHUNK_BYTES) {
      const chunk = bytes.subarray(done, done + CHUNK_BYTES);
      this.#bytes.set(chunk, SCRATCH);
      const bad = this.#exports.check(SCRATCH, chunk.byteLength / 4);
      if (bad >= 0) return { firstBad: done / 4 + bad, squares: NaN };
    }
    return { firstBad: -1, squares: this.#exports.squares.value as number };
  }

  /**
   * `out[i] = scale * (q[i] - zeroPoint)`, rounded to f32 once, as
   * `dequantizeInt8` computes it.
   */
  dequantizeInt8(q: Int8Array, out: Float32Array, scale: number, zeroPoint: number): void {
    if (out.length !== q.length) {
      throw new RangeError(`Cannot dequantize ${q.length} values into ${out.length}`);
    }
    // A fifth of a chunk's room for the int8 input, the rest for the f32 output.
    const step = Math.floor(CHUNK_BYTES / 5 / 16) * 16;
    const outAt = SCRATCH + step;
    const view = new Float32Array(this.#bytes.buffer, outAt, step);
    for (let done = 0; done < q.length; done += step) {
      const chunk = q.subarray(done, done + step);
      this.#bytes.set(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength), SCRATCH);
      this.#exports.dequantizeInt8(SCRATCH, outAt, chunk.length, scale, zeroPoint);
      out.set(view.subarray(0, chunk.length), done);
    }
  }
}
