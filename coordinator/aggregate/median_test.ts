import assert from "node:assert/strict";
import { coordinateMedian } from "./median.ts";

const deltas = (...rows: number[][]) => rows.map((r) => [Float32Array.from(r)]);

Deno.test("coordinateMedian() takes the middle value of an odd count per coordinate", () => {
  const m = coordinateMedian(deltas([1, 5, -3], [3, 4, 0], [2, -7, 100]))!;
  assert.deepEqual([...m[0]!], [2, 4, 0]);
});

Deno.test("coordinateMedian() averages the two middle values of an even count", () => {
  const m = coordinateMedian(deltas([1, 10], [4, 20], [2, 30], [100, 40]))!;
  assert.deepEqual([...m[0]!], [3, 25]);
});

Deno.test("coordinateMedian() handles ties and a single client", () => {
  assert.deepEqual([...coordinateMedian(deltas([2], [2], [7], [2]))![0]!], [2]);
  assert.deepEqual([...coordinateMedian(deltas([7.5, -1]))![0]!], [7.5, -1]);
});

Deno.test("coordinateMedian() ignores a minority of huge values", () => {
  const m = coordinateMedian(deltas([0.1], [0.2], [0.3], [-1e9], [1e9]))!;
  assert.ok(Math.abs(m[0]![0]! - 0.2) < 1e-7);
});

Deno.test("coordinateMedian() works tensor by tensor and refuses mismatched sizes", () => {
  const a = [Float32Array.of(1), Float32Array.of(1, 2)];
  const b = [Float32Array.of(3), Float32Array.of(5, 6)];
  const m = coordinateMedian([a, b])!;
  assert.deepEqual(m.map((t) => [...t]), [[2], [3, 4]]);
  assert.throws(
    () => coordinateMedian([a, [Float32Array.of(3), Float32Array.of(5)]]),
    /tensor 1 of client 1 has 1 values, expected 2/,
  );
  assert.equal(coordinateMedian([]), null);
});
