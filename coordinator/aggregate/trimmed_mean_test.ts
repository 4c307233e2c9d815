import assert from "node:assert/strict";
import { trimCount, trimmedMean } from "./trimmed_mean.ts";

const deltas = (...rows: number[][]) => rows.map((r) => [Float32Array.from(r)]);

Deno.test("trimCount() is floor(beta * n) and refuses beta outside [0, 0.5)", () => {
  assert.equal(trimCount(10, 0.1), 1);
  assert.equal(trimCount(10, 0.25), 2);
  assert.equal(trimCount(3, 0.3), 0);
  assert.equal(trimCount(8, 0), 0);
  assert.throws(() => trimCount(10, 0.5), /beta "0.5" must be in \[0, 0.5\)/);
  assert.throws(() => trimCount(10, -0.1), /must be in/);
});

Deno.test("trimmedMean() drops floor(beta * n) values from each end of every coordinate", () => {
  // n = 5, beta = 0.2: one dropped from each end.
  const m = trimmedMean(deltas([1, 50], [2, 40], [3, 30], [4, 20], [100, -10]), { beta: 0.2 })!;
  assert.deepEqual([...m[0]!], [3, 30]);
});

Deno.test("trimmedMean() with beta 0 is the plain mean", () => {
  const m = trimmedMean(deltas([1], [2], [6]), { beta: 0 })!;
  assert.equal(m[0]![0], 3);
});

Deno.test("trimmedMean() with an even count keeps the middle n - 2k values", () => {
  // n = 6, beta = 0.34: k = 2, the middle two (3 and 4) remain.
  const m = trimmedMean(deltas([6], [1], [4], [2], [3], [5]), { beta: 0.34 })!;
  assert.equal(m[0]![0], 3.5);
});
