import assert from "node:assert/strict";
import { assembleKernels, kernelsSource } from "../../../tools/build_kernels.ts";
import { dequantizeInt8 } from "../../../shared/wire/codec.ts";
import { seededRandom } from "../../../shared/random.ts";
import { FOLD_KERNELS_BASE64 } from "./_fold_kernels_wasm.ts";
import { FoldKernel } from "./fold_kernels.ts";
import { accumulate64 } from "./running_sum.ts";

// The embedded binary is what `deno task build-kernels` makes of the .wat
// source today, so the two cannot drift apart.
Deno.test("the embedded fold kernels are the assembled _fold_kernels.wat", async () => {
  const bytes = await assembleKernels("fold");
  assert.equal(btoa(String.fromCharCode(...bytes)), FOLD_KERNELS_BASE64);
  const embedded = await Deno.readTextFile(new URL("./_fold_kernels_wasm.ts", import.meta.url));
  assert.equal(embedded.replace(/\s+/g, ""), kernelsSource(bytes, "fold").replace(/\s+/g, ""));
});

/** Random f32 values with the edge values mixed in: ±0, subnormals, the largest, tiny. */
function values(n: number, seed: number, options: { bad?: boolean } = {}): Float32Array {
  const random = seededRandom(seed);
  const edges = [0, -0, 1e-45, -1e-45, 1.17549435e-38, 3.4028234e38, -3.4028234e38, 1e-30, 65504];
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = random();
    out[i] = r < 0.05
      ? edges[Math.floor(random() * edges.length)]!
      : (random() - 0.5) * 10 ** (random() * 8 - 4);
  }
  if (options.bad && n > 0) {
    out[Math.floor(random() * n)] = [NaN, Infinity, -Infinity][Math.floor(random() * 3)]!;
  }
  return out;
}

Deno.test("fold: bit for bit accumulate64, at every length and offset, chunk boundaries included", () => {
  for (
    const [n, seed] of [[0, 1], [1, 2], [3, 3], [7, 4], [8, 5], [9, 6], [16_383, 7], [16_385, 8], [
      100_003,
      9,
    ]] as const
  ) {
    for (const weight of [1, 0.3, 7.25, 1e-7]) {
      const offset = n % 5;
      const kernel = new FoldKernel(n + offset + 2);
      const reference = new Float64Array(n);
      // Three updates on top of one another, as a round does.
      for (let u = 0; u < 3; u++) {
        const v = values(n, seed * 10 + u);
        kernel.fold(offset, v, weight * (u + 1));
        accumulate64(reference, v, weight * (u + 1));
      }
      const got = kernel.sums.subarray(offset, offset + n);
      for (let i = 0; i < n; i++) {
        if (!Object.is(got[i], reference[i])) {
          assert.fail(`n ${n} weight ${weight}: value ${i} is ${got[i]}, expected ${reference[i]}`);
        }
      }
      // Nothing outside the range moved.
      assert.deepEqual(
        [...kernel.sums.subarray(0, offset), ...kernel.sums.subarray(offset + n)],
        new Array(offset + 2).fill(0),
      );
    }
  }
});

Deno.test("fold: from bytes at any alignment, as from a stream", () => {
  const v = values(50_001, 11);
  const bytes = new Uint8Array(v.byteLength + 3);
  bytes.set(new Uint8Array(v.buffer), 3);
  const kernel = new FoldKernel(v.length);
  kernel.foldBytes(0, bytes.subarray(3, 3 + 40_000), 0.5);
  kernel.foldBytes(10_000, bytes.subarray(3 + 40_000), 0.5);
  const reference = new Float64Array(v.length);
  accumulate64(reference, v, 0.5);
  assert.deepEqual(kernel.sums, reference);
  assert.throws(() => kernel.foldBytes(0, new Uint8Array(6), 1), /Cannot fold 6 bytes/);
  assert.throws(() => kernel.fold(1, v, 1), /Cannot fold/);
});

Deno.test("check: the first value that is not finite, and the sum of squares, as the plain loop finds them", () => {
  const kernel = new FoldKernel();
  for (const [n, seed] of [[1, 1], [5, 2], [16_384, 3], [16_387, 4], [200_001, 5]] as const) {
    for (const bad of [false, true]) {
      const v = values(n, seed, { bad });
      let firstBad = -1;
      let squares = 0;
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(v[i]!)) {
          firstBad = i;
          break;
        }
        squares += v[i]! * v[i]!;
      }
      const got = kernel.check(v);
      assert.equal(got.firstBad, firstBad, `n ${n}`);
      if (firstBad < 0) {
        // Summed in four lanes: the same sum up to rounding.
        assert.ok(
          Math.abs(got.squares - squares) <= 1e-12 * squares,
          `${got.squares} against ${squares}`,
        );
      }
    }
  }
  // Each of NaN, +Infinity and -Infinity, first or last, in the SIMD part or the tail.
  for (const bad of [NaN, Infinity, -Infinity]) {
    for (const at of [0, 3, 4, 7, 8, 9]) {
      const v = new Float32Array(10).fill(1);
      v[at] = bad;
      assert.equal(kernel.check(v).firstBad, at);
    }
  }
  assert.deepEqual(kernel.check(new Float32Array(0)), { firstBad: -1, squares: 0 });
  assert.deepEqual(kernel.check(Float32Array.of(3.4028234663852886e38)).firstBad, -1);
});

Deno.test("dequantizeInt8: bit for bit the codec's", () => {
  const random = seededRandom(21);
  const kernel = new FoldKernel();
  for (const n of [1, 4, 5, 13_104, 13_105, 3_276, 3_277, 100_000]) {
    const q = Int8Array.from({ length: n }, () => Math.floor(random() * 256) - 128);
    q[0] = -128;
    if (n > 1) q[n - 1] = 127;
    for (const [scale, zeroPoint] of [[0.0123, -3], [1e-6, 127], [3.7, -128]] as const) {
      const out = new Float32Array(n);
      kernel.dequantizeInt8(q, out, Math.fround(scale), zeroPoint);
      const reference = dequantizeInt8(q, Float32Array.of(scale), Float32Array.of(zeroPoint), 0);
      assert.deepEqual(out, reference, `n ${n}`);
    }
  }
});

Deno.test("foldMany: bit for bit the same folds one after another, for 1 to 300 sources", () => {
  for (const [n, k] of [[1, 1], [7, 2], [16_385, 3], [40_001, 16], [1_001, 300]] as const) {
    const sources = Array.from({ length: k }, (_, j) => ({
      values: values(n, 100 + j),
      weight: j === 1 ? 0 : 0.25 + j,
    }));
    const offset = n % 3;
    const kernel = new FoldKernel(n + offset);
    const reference = new Float64Array(n);
    for (const s of sources) accumulate64(reference, s.values, s.weight);
    kernel.foldMany(
      offset,
      sources.map((s) => ({ bytes: new Uint8Array(s.values.buffer), weight: s.weight })),
    );
    const got = kernel.sums.subarray(offset);
    for (let i = 0; i < n; i++) {
      if (!Object.is(got[i], reference[i])) {
        assert.fail(`n ${n} k ${k}: value ${i} is ${got[i]}, expected ${reference[i]}`);
      }
    }
  }
  const kernel = new FoldKernel(8);
  assert.throws(
    () =>
      kernel.foldMany(0, [{ bytes: new Uint8Array(8), weight: 1 }, {
        bytes: new Uint8Array(4),
        weight: 1,
      }]),
    /Cannot fold 2 sources/,
  );
});
