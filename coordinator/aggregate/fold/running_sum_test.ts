import assert from "node:assert/strict";
import { seededRandom } from "../../../shared/random.ts";
import { fedAvg } from "../fed_avg.ts";
import { RunningSum } from "./running_sum.ts";

Deno.test("RunningSum's mean equals fedAvg's, in any arrival order", () => {
  const random = seededRandom(4);
  const sizes = [1000, 7];
  const deltas = Array.from({ length: 12 }, (_, c) => ({
    tensors: sizes.map((n) => Float32Array.from({ length: n }, () => random() - 0.5)),
    numLabeled: 1 + c,
    numUnlabeled: 3 * c,
    scale: c % 3 === 0 ? 0.5 : 1,
  }));
  const expected = fedAvg(deltas, { unlabeledWeight: 0.5 })!;
  for (const order of [deltas, [...deltas].reverse()]) {
    const sum = new RunningSum(sizes);
    for (const d of order) sum.add(d.tensors, d.numLabeled + 0.5 * d.numUnlabeled, d.scale);
    const mean = sum.mean()!;
    mean.forEach((t, i) =>
      t.forEach((v, j) =>
        assert.ok(Math.abs(v - expected[i]![j]!) < 1e-6, `${v} vs ${expected[i]![j]}`)
      )
    );
  }
  // The two orders agree to the last bit here: float64 sums, rounded once.
  const a = new RunningSum(sizes);
  const b = new RunningSum(sizes);
  for (const d of deltas) a.add(d.tensors, d.numLabeled, d.scale);
  for (const d of [...deltas].reverse()) b.add(d.tensors, d.numLabeled, d.scale);
  assert.deepEqual(a.mean(), b.mean());
});

Deno.test("RunningSum: nothing of weight is null; a zero-weight NaN does not leak", () => {
  const sum = new RunningSum([2]);
  assert.equal(sum.mean(), null);
  sum.add([Float32Array.of(NaN, NaN)], 0);
  assert.equal(sum.mean(), null);
  sum.add([Float32Array.of(1, 2)], 2);
  assert.deepEqual([...sum.mean()![0]!], [1, 2]);
  assert.equal(sum.count, 2);
  assert.throws(() => sum.add([Float32Array.of(1)], 1), /lengths/);
  assert.throws(() => sum.add([Float32Array.of(1, 1)], -1), /must be valid/);
});

Deno.test("RunningSum: the kernel's sums are bit for bit the plain JavaScript's, tensors and pieces", () => {
  const random = seededRandom(5);
  const sizes = [1001, 7, 30_000];
  const kernel = new RunningSum(sizes);
  const plain = new RunningSum(sizes, { kernel: false });
  const pieces = new RunningSum(sizes);
  for (let u = 0; u < 5; u++) {
    const tensors = sizes.map((n) => Float32Array.from({ length: n }, () => (random() - 0.5) * 3));
    const weight = 1 + u * 0.37;
    kernel.add(tensors, weight, 0.9);
    plain.add(tensors, weight, 0.9);
    // The same update as pieces of unaligned bytes, out of order.
    const parts = tensors.flatMap((t, tensor) => {
      const bytes = new Uint8Array(t.byteLength + 1).subarray(1);
      bytes.set(new Uint8Array(t.buffer));
      const half = Math.floor(t.length / 2) * 4;
      return [
        { tensor, start: half / 4, bytes: bytes.subarray(half) },
        { tensor, start: 0, bytes: bytes.subarray(0, half) },
      ];
    });
    pieces.addPieces(parts.reverse(), weight, 0.9);
  }
  assert.deepEqual(kernel.sums(), plain.sums());
  assert.deepEqual(pieces.sums(), plain.sums());
  assert.deepEqual(kernel.mean(), plain.mean());
  assert.throws(
    () => pieces.addPieces([{ tensor: 1, start: 5, bytes: new Uint8Array(12) }], 1),
    /outside tensor 1/,
  );
});

Deno.test("RunningSum.addMany: bit for bit the same updates added one after another", () => {
  const random = seededRandom(8);
  const sizes = [5000, 3];
  const many = new RunningSum(sizes);
  const one = new RunningSum(sizes, { kernel: false });
  const updates = Array.from({ length: 5 }, (_, u) => ({
    tensors: sizes.map((n) => Float32Array.from({ length: n }, () => random() - 0.5)),
    weight: u === 2 ? 0 : 1 + u,
    scale: u === 3 ? 0.5 : 1,
  }));
  // In pieces of 1000 values, as a batch is read back from the spool.
  const pieces = (tensors: Float32Array[]) =>
    tensors.flatMap((t, tensor) =>
      Array.from({ length: Math.ceil(t.length / 1000) }, (_, k) => ({
        tensor,
        start: k * 1000,
        bytes: new Uint8Array(t.buffer, k * 4000, Math.min(1000, t.length - k * 1000) * 4),
      }))
    );
  many.addMany(
    updates.map((u) => ({ pieces: pieces(u.tensors), weight: u.weight, scale: u.scale })),
  );
  for (const u of updates) one.add(u.tensors, u.weight, u.scale);
  assert.deepEqual(many.sums(), one.sums());
  assert.equal(many.count, one.count);
  assert.deepEqual(many.mean(), one.mean());
  assert.throws(
    () =>
      many.addMany([
        { pieces: pieces(updates[0]!.tensors), weight: 1 },
        { pieces: pieces(updates[1]!.tensors).slice(1), weight: 1 },
      ]),
    /do not cover the same values/,
  );
});
