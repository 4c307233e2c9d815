/**
 * A weighted sum of updates kept as they arrive, for the strategies that are
 * sums (FedAvg and the server optimisers over its mean, and async FedBuff):
 * memory is one float64 array per tensor, whatever the number of clients.
 * The fold runs in the WebAssembly SIMD kernel (fold_kernels.ts), bit for bit
 * {@linkcode accumulate64}, which stays as the reference and the fallback.
 * @module
 */
import { FoldKernel, foldKernelsAvailable } from "./fold_kernels.ts";

/**
 * `target[i] += weight * source[i]`, the hot loop of streaming aggregation
 * (float64 accumulators, so the order updates arrive in does not change the
 * float32 mean in practice).
 *
 * @example
 * ```ts
 * import { accumulate64 } from "./running_sum.ts";
 * import assert from "node:assert/strict";
 * const target = new Float64Array(2);
 * accumulate64(target, Float32Array.of(1, 2), 0.5);
 * assert.deepEqual([...target], [0.5, 1]);
 * ```
 */
export function accumulate64(target: Float64Array, source: Float32Array, weight: number): void {
  if (target.length !== source.length) {
    throw new RangeError(`Cannot accumulate: lengths ${source.length} and ${target.length} differ`);
  }
  const n = target.length;
  let i = 0;
  // Unrolled by 4: fewer loop checks on the longest loop of a round.
  for (; i + 4 <= n; i += 4) {
    target[i] = target[i]! + weight * source[i]!;
    target[i + 1] = target[i + 1]! + weight * source[i + 1]!;
    target[i + 2] = target[i + 2]! + weight * source[i + 2]!;
    target[i + 3] = target[i + 3]! + weight * source[i + 3]!;
  }
  for (; i < n; i++) target[i] = target[i]! + weight * source[i]!;
}

/**
 * The running FedAvg numerator and denominator: `add` folds one update in
 * (its weight, and a `scale` the denominator leaves out, as FedBuff's
 * staleness weight); `mean` is what {@linkcode import("../fed_avg.ts").fedAvg}
 * returns for the same updates.
 *
 * @example
 * ```ts
 * import { RunningSum } from "./running_sum.ts";
 * import assert from "node:assert/strict";
 * const sum = new RunningSum([2]);
 * sum.add([Float32Array.of(1, 1)], 1);
 * sum.add([Float32Array.of(3, 5)], 3);
 * assert.deepEqual([...sum.mean()![0]!], [2.5, 4]);
 * ```
 */
export class RunningSum {
  #sums: Float64Array[];
  /** Where each tensor's sums start in the kernel's accumulators. */
  #offsets: number[];
  #kernel: FoldKernel | null;
  #total = 0;
  #count = 0;

  /**
   * An empty sum for tensors of the given sizes (`kernel: false` folds in
   * plain JavaScript).
   */
  constructor(sizes: readonly number[], options: { kernel?: boolean } = {}) {
    const total = sizes.reduce((a, b) => a + b, 0);
    this.#offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    this.#kernel = (options.kernel ?? true) && foldKernelsAvailable() && total <= 2 ** 28
      ? new FoldKernel(total)
      : null;
    const kernel = this.#kernel;
    this.#sums = kernel
      ? sizes.map((n, i) => kernel.sums.subarray(this.#offsets[i]!, this.#offsets[i]! + n))
      : sizes.map((n) => new Float64Array(n));
  }

  /** Updates folded in. */
  get count(): number {
    return this.#count;
  }

  /** Folds in one update of weight `weight` (> 0 to count) times `scale`. */
  add(tensors: readonly Float32Array[], weight: number, scale = 1): void {
    if (tensors.length !== this.#sums.length) {
      throw new RangeError(`Cannot add: ${tensors.length} tensors, expected ${this.#sums.length}`);
    }
    if (!(weight >= 0) || !(scale >= 0 && scale <= 1)) {
      throw new RangeError(`Cannot add: weight "${weight}" and scale "${scale}" must be valid`);
    }
    tensors.forEach((t, i) => {
      if (t.length !== this.#sums[i]!.length) {
        throw new RangeError(
          `Cannot add: tensor ${i} has ${t.length} values, expected ${
            this.#sums[i]!.length
          } (lengths differ)`,
        );
      }
    });
    this.#count++;
    this.#total += weight;
    // A weight of 0 adds nothing, so its values (even NaN) cannot leak in.
    if (weight * scale > 0) {
      tensors.forEach((t, i) => {
        if (this.#kernel) this.#kernel.fold(this.#offsets[i]!, t, weight * scale);
        else accumulate64(this.#sums[i]!, t, weight * scale);
      });
    }
  }

  /**
   * {@linkcode add} for an update read piece by piece (from a spool record):
   * `pieces` gives, for each piece of little-endian f32 values, its tensor,
   * the index of its first value, and its bytes. The pieces together must
   * cover every value once; the caller has checked them already.
   */
  addPieces(
    pieces: Iterable<{ tensor: number; start: number; bytes: Uint8Array }>,
    weight: number,
    scale = 1,
  ): void {
    if (!(weight >= 0) || !(scale >= 0 && scale <= 1)) {
      throw new RangeError(`Cannot add: weight "${weight}" and scale "${scale}" must be valid`);
    }
    const w = weight * scale;
    if (w > 0) {
      for (const { tensor, start, bytes } of pieces) {
        const sums = this.#sums[tensor];
        if (!sums || start < 0 || start + bytes.byteLength / 4 > sums.length) {
          throw new RangeError(`Cannot add: a piece outside tensor ${tensor}`);
        }
        if (this.#kernel) this.#kernel.foldBytes(this.#offsets[tensor]! + start, bytes, w);
        else {
          const values = new Float32Array(bytes.slice().buffer);
          accumulate64(sums.subarray(start, start + values.length), values, w);
        }
      }
    }
    this.#count++;
    this.#total += weight;
  }

  /**
   * {@linkcode addPieces} for several updates at once, pieces read in step:
   * the i-th piece of every update must cover the same values. The same
   * sums, bit for bit, as adding them one after another in this order, but
   * each accumulator is read and written once for the batch.
   */
  addMany(
    updates: readonly {
      pieces: Iterable<{ tensor: number; start: number; bytes: Uint8Array }>;
      weight: number;
      scale?: number;
    }[],
  ): void {
    for (const { weight, scale = 1 } of updates) {
      if (!(weight >= 0) || !(scale >= 0 && scale <= 1)) {
        throw new RangeError(`Cannot add: weight "${weight}" and scale "${scale}" must be valid`);
      }
    }
    const folded = updates.filter(({ weight, scale = 1 }) => weight * scale > 0);
    if (!this.#kernel) {
      for (const u of folded) this.addPieces(u.pieces, u.weight, u.scale);
      this.#count += updates.length - folded.length;
      for (const u of updates) if (!folded.includes(u)) this.#total += u.weight;
      return;
    }
    const readers = folded.map((u) => u.pieces[Symbol.iterator]());
    for (;;) {
      const steps = readers.map((r) => r.next());
      if (steps.every((s) => s.done)) break;
      const first = steps[0]!.value!;
      for (const step of steps) {
        const piece = step.value;
        if (
          step.done || piece.tensor !== first.tensor || piece.start !== first.start ||
          piece.bytes.byteLength !== first.bytes.byteLength
        ) {
          throw new RangeError("Cannot add: the updates' pieces do not cover the same values");
        }
      }
      const sums = this.#sums[first.tensor];
      if (!sums || first.start < 0 || first.start + first.bytes.byteLength / 4 > sums.length) {
        throw new RangeError(`Cannot add: a piece outside tensor ${first.tensor}`);
      }
      this.#kernel.foldMany(
        this.#offsets[first.tensor]! + first.start,
        steps.map((step, j) => ({
          bytes: step.value!.bytes,
          weight: folded[j]!.weight * (folded[j]!.scale ?? 1),
        })),
      );
    }
    this.#count += updates.length;
    for (const u of updates) this.#total += u.weight;
  }

  /** The weighted sums themselves (float64, not copied). */
  sums(): readonly Float64Array[] {
    return this.#sums;
  }

  /** The weighted mean as float32, or null when nothing with weight was added. */
  mean(): Float32Array[] | null {
    if (!(this.#total > 0)) return null;
    const inv = 1 / this.#total;
    return this.#sums.map((s) => {
      const out = new Float32Array(s.length);
      for (let i = 0; i < s.length; i++) out[i] = s[i]! * inv;
      return out;
    });
  }
}
