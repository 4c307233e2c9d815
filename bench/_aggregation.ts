/**
 * Streaming aggregation against the memory-bound limit: RunningSum.add over
 * many f32 updates (the WebAssembly SIMD fold into float64 accumulators),
 * and the blocked fold of a group commit's batch, beside
 * `Float32Array.prototype.set` copying the same bytes (the reference each
 * figure is divided by) and the plain JavaScript loop.
 * @module
 */
import { FoldKernel } from "../coordinator/aggregate/fold/fold_kernels.ts";
import { accumulate64, RunningSum } from "../coordinator/aggregate/fold/running_sum.ts";
import { seededRandom } from "../shared/random.ts";
import type { Row } from "./_row.ts";

/** Seconds per call of `f`, the median of 5 timings of `repeat` calls each. */
function timed(repeat: number, f: (i: number) => void): number {
  f(0);
  const times: number[] = [];
  for (let t = 0; t < 5; t++) {
    const start = performance.now();
    for (let i = 0; i < repeat; i++) f(i);
    times.push((performance.now() - start) / 1000 / repeat);
  }
  return times.sort((a, b) => a - b)[2]!;
}

/** GB/s of f32 update consumed by the fold, one by one and in batches, against a copy. */
export function aggregationRows(): Row[] {
  const rows: Row[] = [];
  const random = seededRandom(9);
  for (const parameters of [1_000_000, 10_000_000]) {
    // Sixteen distinct updates, used in turn (a 10M update does not fit in a cache).
    const updates = Array.from({ length: 16 }, () => {
      const u = new Float32Array(parameters);
      for (let i = 0; i < parameters; i += 997) u[i] = random();
      return u;
    });
    const repeat = parameters > 5e6 ? 4 : 32;
    const target = new Float32Array(parameters);
    const copy = timed(repeat, (i) => target.set(updates[i % 16]!));
    const sum = new RunningSum([parameters]);
    const one = timed(repeat, (i) => sum.add([updates[i % 16]!], 1 + (i % 3)));
    const plain = new Float64Array(parameters);
    const js = timed(repeat, (i) => accumulate64(plain, updates[i % 16]!, 1 + (i % 3)));
    const kernel = new FoldKernel(parameters);
    const batch = updates.map((u, j) => ({ bytes: new Uint8Array(u.buffer), weight: 1 + (j % 3) }));
    const many = timed(Math.max(1, repeat / 16), () => kernel.foldMany(0, batch)) / 16;
    const gb = (parameters * 4) / 1e9;
    const reference = `Float32Array.set copy ${(gb / copy).toFixed(2)} GB/s`;
    rows.push({
      name: `aggregation, ${parameters / 1e6}M params, one update at a time`,
      value: gb / one,
      unit: "GB/s",
      note: `${reference}; ratio ${(copy / one).toFixed(2)}; plain JS loop ${
        (gb / js).toFixed(2)
      } GB/s (ratio ${(copy / js).toFixed(2)})`,
    });
    rows.push({
      name: `aggregation, ${parameters / 1e6}M params, a batch of 16 (one group commit)`,
      value: gb / many,
      unit: "GB/s",
      note: `${reference}; ratio ${(copy / many).toFixed(2)}`,
    });
  }
  return rows;
}
