// The SIMD product with the first operand transposed (a dense layer's weight
// gradient) and the column sum (a bias's gradient) that the wasm BatchMatMul
// and Sum kernels hand over to, against direct loops; and the shapes they
// leave to the original kernels.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { startBackend } from "./backend.ts";
import { seededRandom } from "../../shared/random.ts";

await startBackend("wasm");

function random(shape: number[], seed: number): tf.Tensor {
  const next = seededRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => next() * 2 - 1), shape);
}

function assertClose(actual: tf.Tensor, expected: Float32Array, what: string) {
  const a = actual.dataSync();
  assert.equal(a.length, expected.length, `${what}: size`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i]! - expected[i]!) <= 1e-4,
      `${what}[${i}]: ${a[i]} against ${expected[i]}`,
    );
  }
}

Deno.test("aᵀ b on wasm matches direct loops, past the kernel's blocks of K and in the 4-column tail", () => {
  // k above the 256 rows of a block; n = 12 leaves 4 columns after the 8-wide blocks.
  for (
    const [shapeA, shapeB] of [[[600, 8], [600, 12]], [[1, 300, 16], [1, 300, 8]], [[5, 3], [5, 4]]]
  ) {
    const a = random(shapeA!, 1);
    const b = random(shapeB!, 2);
    const [k, m] = shapeA!.slice(-2) as [number, number];
    const n = shapeB!.at(-1)!;
    const [x, y] = [a.dataSync(), b.dataSync()];
    const want = new Float32Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) sum += x[p * m + i]! * y[p * n + j]!;
        want[i * n + j] = sum;
      }
    }
    const got = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, false);
    assert.deepEqual(got.shape, [...shapeA!.slice(0, -2), m, n]);
    assertClose(got, want, `[${shapeA}]ᵀ [${shapeB}]`);
    tf.dispose([a, b, got]);
  }
});

Deno.test("a sum over every axis but the last on wasm matches direct loops; other sums are unchanged", () => {
  const x = random([3, 5, 12], 3);
  const values = x.dataSync();
  const want = new Float32Array(12);
  for (let i = 0; i < values.length; i++) want[i % 12]! += values[i]!;
  assertClose(tf.sum(x, [0, 1]), want, "sum over [0, 1]");
  const kept = tf.sum(x, [1, 0], true);
  assert.deepEqual(kept.shape, [1, 1, 12]);
  assertClose(kept, want, "keepDims");
  // Sums the column kernel does not cover: over the last axis, over one leading axis, 6 columns.
  const rows = new Float32Array(15);
  for (let i = 0; i < values.length; i++) rows[Math.floor(i / 12)]! += values[i]!;
  assertClose(tf.sum(x, -1), rows, "sum over the last axis");
  const middle = new Float32Array(36);
  for (let i = 0; i < values.length; i++) {
    middle[Math.floor(i / 60) * 12 + (i % 12)]! += values[i]!;
  }
  assertClose(tf.sum(x, 1), middle, "sum over axis 1");
  const odd = random([4, 6], 4);
  const oddValues = odd.dataSync();
  const oddWant = new Float32Array(6);
  for (let i = 0; i < 24; i++) oddWant[i % 6]! += oddValues[i]!;
  assertClose(tf.sum(odd, 0), oddWant, "6 columns");
});
