import assert from "node:assert/strict";
import { krumScores, krumSelect, squaredDistance } from "./krum.ts";

const points = (...xs: number[][]) => xs.map((x) => [Float32Array.from(x)]);

Deno.test("squaredDistance() sums over all tensors", () => {
  const a = [Float32Array.of(0, 0), Float32Array.of(1)];
  const b = [Float32Array.of(3, 4), Float32Array.of(3)];
  assert.equal(squaredDistance(a, b), 9 + 16 + 4);
});

Deno.test("krumScores() sums the n - f - 2 smallest distances to the others", () => {
  const scores = krumScores(points([0], [1], [3], [10]), 0);
  // f = 0: n - f - 2 = 2 nearest: 0 -> 1 + 9; 1 -> 1 + 4; 3 -> 4 + 9; 10 -> 49 + 81.
  assert.deepEqual(scores, [10, 5, 13, 130]);
  // f = 1: the 1 nearest: 0 -> 1; 1 -> 1; 3 -> 4; 10 -> 49.
  assert.deepEqual(krumScores(points([0], [1], [3], [10]), 1), [1, 1, 4, 49]);
});

Deno.test("krumSelect() picks the most central update (Krum) and the m best (multi-Krum)", () => {
  const deltas = points([0, 0], [0.1, 0], [0, 0.2], [-0.1, 0], [40, 40], [-40, 40]);
  // f = 1, n = 6: 3 nearest neighbours; direct sums of squared distances:
  const expected = deltas.map((d, i) =>
    deltas.filter((_, j) => j !== i).map((e) => squaredDistance(d, e)).sort((a, b) => a - b)
      .slice(0, 3).reduce((s, x) => s + x, 0)
  );
  assert.deepEqual(krumScores(deltas, 1), expected);
  assert.deepEqual(krumSelect(deltas, { f: 1 }), [0]);
  const four = krumSelect(deltas, { f: 1, m: 4 });
  assert.deepEqual([...four].sort(), [0, 1, 2, 3]);
  assert.ok(!four.includes(4) && !four.includes(5));
});

Deno.test("krumSelect() breaks equal scores by client order", () => {
  const deltas = points([1], [1], [1], [1], [1]);
  assert.deepEqual(krumSelect(deltas, { f: 1, m: 2 }), [0, 1]);
});

Deno.test("krumSelect() refuses too few updates and bad f or m, with reasons", () => {
  const deltas = points([0], [1], [2], [3]);
  assert.throws(() => krumSelect(deltas, { f: 1 }), /4 updates, it needs more than 2f \+ 2 = 4/);
  assert.throws(() => krumSelect(deltas, { f: -1 }), /f "-1" must be a non-negative integer/);
  assert.throws(
    () => krumSelect(deltas, { f: 0, m: 5 }),
    /m "5" must be an integer in \[1, n - f = 4\]/,
  );
});
