/**
 * Streaming aggregation against the memory-bound limit: RunningSum.add over
 * many f32 updates, beside a loop that only adds one f32 array into another.
 * @module
 */
import { RunningSum } from "../coordinator/aggregate/running_sum.ts";
import { seededRandom } from "../shared/random.ts";
import type { Row } from "./_row.ts";

/** The reference: `target[i] += source[i]` in float32, nothing else. */
function streamAdd(target: Float32Array, source: Float32Array): void {
  for (let i = 0; i < target.length; i++) target[i] = target[i]! + source[i]!;
}

/** GB/s of f32 update consumed by the running sum and by the reference, per size and count. */
export function aggregationRows(): Row[] {
  const rows: Row[] = [];
  const random = seededRandom(9);
  for (const parameters of [1_000_000, 10_000_000]) {
    // Four distinct updates, used in turn (a 10M update does not fit in a cache).
    const updates = Array.from({ length: 4 }, () => {
      const u = new Float32Array(parameters);
      for (let i = 0; i < parameters; i += 997) u[i] = random();
      return u;
    });
    for (const count of [10, 100, 1000]) {
      const sum = new RunningSum([parameters]);
      sum.add([updates[0]!], 1); // warm-up
      let start = performance.now();
      for (let c = 0; c < count; c++) sum.add([updates[c % 4]!], 1 + (c % 3));
      const folded = (performance.now() - start) / 1000;
      const target = new Float32Array(parameters);
      streamAdd(target, updates[0]!);
      start = performance.now();
      for (let c = 0; c < count; c++) streamAdd(target, updates[c % 4]!);
      const reference = (performance.now() - start) / 1000;
      const gb = (parameters * 4 * count) / 1e9;
      rows.push({
        name: `aggregation, ${parameters / 1e6}M params x ${count} updates`,
        value: gb / folded,
        unit: "GB/s",
        note: `reference stream-add ${(gb / reference).toFixed(2)} GB/s; ratio ${
          (reference / folded).toFixed(2)
        }`,
      });
    }
  }
  return rows;
}
