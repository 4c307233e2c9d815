/**
 * Paired comparisons of two arms: the arms of one seed share its partition,
 * so each seed's difference of final accuracies is a paired sample, free of
 * the spread between partitions that mean ± std over seeds carries. Pure.
 * @module
 */
import { type ArmRun, finalAccuracy, finalPerplexity } from "./report.ts";

/** The per-seed differences of two arms, from {@linkcode pairedDifference}. */
export interface PairedDifference {
  /** The arm whose accuracy comes first in each difference. */
  arm: string;
  /** The arm it is compared with. */
  baseline: string;
  /** Each seed's final accuracy of `arm` minus that of `baseline`, in `[-1, 1]`, by seed. */
  perSeed: { seed: number; difference: number }[];
  /** Mean of the differences. */
  mean: number;
  /** Sample standard deviation (n - 1) of the differences; 0 for one seed. */
  std: number;
  /** The smallest and largest difference. */
  min: number;
  max: number;
  /** Seeds on which `arm` came out ahead (a difference above 0). */
  wins: number;
}

/**
 * The paired differences of `arm` against `baseline` over the seeds both ran
 * (with a final accuracy), or `undefined` when they share none.
 *
 * @example
 * ```ts
 * import { pairedDifference } from "./paired.ts";
 * import assert from "node:assert/strict";
 * const run = (arm: string, seed: number, accuracy: number) => ({
 *   arm, seed, wallSeconds: 1, bytesSent: 0,
 *   rounds: [{ round: 1, accuracy, loss: null, seconds: 1, bytesReceived: 0, clients: 2 }],
 * });
 * const runs = [run("a", 1, 0.80), run("b", 1, 0.75), run("a", 2, 0.70), run("b", 2, 0.68)];
 * const paired = pairedDifference(runs, "a", "b")!;
 * assert.equal(paired.wins, 2);
 * assert.ok(Math.abs(paired.mean - 0.035) < 1e-12);
 * ```
 */
export function pairedDifference(
  runs: readonly ArmRun[],
  arm: string,
  baseline: string,
): PairedDifference | undefined {
  const perSeed: { seed: number; difference: number }[] = [];
  for (const run of runs.filter((r) => r.arm === arm)) {
    const other = runs.find((r) => r.arm === baseline && r.seed === run.seed);
    const a = finalAccuracy(run);
    const b = other && finalAccuracy(other);
    if (a !== undefined && b !== undefined) perSeed.push({ seed: run.seed, difference: a - b });
  }
  if (perSeed.length === 0) return undefined;
  perSeed.sort((x, y) => x.seed - y.seed);
  const values = perSeed.map((p) => p.difference);
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const std = values.length < 2
    ? 0
    : Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1));
  return {
    arm,
    baseline,
    perSeed,
    mean,
    std,
    min: Math.min(...values),
    max: Math.max(...values),
    wins: values.filter((v) => v > 0).length,
  };
}

const points = (value: number) => `${value >= 0 ? "+" : "−"}${Math.abs(100 * value).toFixed(2)}`;

/**
 * One plain sentence on a paired comparison: an arm "beats" its baseline only
 * when it is ahead on every seed; otherwise the sentence says it does not.
 *
 * @example
 * ```ts
 * import { pairedVerdict } from "./paired.ts";
 * import assert from "node:assert/strict";
 * const verdict = pairedVerdict({
 *   arm: "rdrop-ssl", baseline: "supervised", mean: 0.01, std: 0.04, min: -0.03, max: 0.05, wins: 2,
 *   perSeed: [{ seed: 1, difference: -0.03 }, { seed: 2, difference: 0.05 }, { seed: 3, difference: 0.01 }],
 * });
 * assert.match(verdict, /^rdrop-ssl does not beat supervised: ahead on 2 of 3 seeds/);
 * ```
 */
export function pairedVerdict(p: PairedDifference): string {
  const n = p.perSeed.length;
  const spread = `${points(p.min)} to ${points(p.max)} points (mean ${points(p.mean)}, std ${
    (100 * p.std).toFixed(2)
  })`;
  return p.wins === n
    ? `${p.arm} beats ${p.baseline} on every seed (${n} of ${n}): ${spread}`
    : `${p.arm} does not beat ${p.baseline}: ahead on ${p.wins} of ${n} seeds, ${spread}`;
}

/**
 * A markdown table of paired comparisons: each seed's difference in points,
 * then the mean, the std and the verdict.
 *
 * @example
 * ```ts
 * import { pairedTable } from "./paired.ts";
 * import assert from "node:assert/strict";
 * const table = pairedTable([{
 *   arm: "a", baseline: "b", mean: 0.02, std: 0, min: 0.02, max: 0.02, wins: 1,
 *   perSeed: [{ seed: 4, difference: 0.02 }],
 * }]);
 * assert.ok(table.includes("| a − b | +2.00 | +2.00 | 0.00 | beats, 1 of 1 |"));
 * ```
 */
export function pairedTable(comparisons: readonly PairedDifference[]): string {
  const seeds = [...new Set(comparisons.flatMap((c) => c.perSeed.map((p) => p.seed)))].sort((
    a,
    b,
  ) => a - b);
  const lines = [
    `| paired difference (points) | ${seeds.map((s) => `seed ${s}`).join(" | ")} | mean | std | |`,
    `| --- | ${seeds.map(() => "---:").join(" | ")} | ---: | ---: | --- |`,
  ];
  for (const c of comparisons) {
    const cells = seeds.map((seed) => {
      const found = c.perSeed.find((p) => p.seed === seed);
      return found ? points(found.difference) : "n/a";
    });
    const n = c.perSeed.length;
    const verdict = c.wins === n ? `beats, ${n} of ${n}` : `does not beat, ${c.wins} of ${n}`;
    lines.push(
      `| ${c.arm} − ${c.baseline} | ${cells.join(" | ")} | ${points(c.mean)} | ${
        (100 * c.std).toFixed(2)
      } | ${verdict} |`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Final perplexities of two arms per seed, from {@linkcode pairedPerplexity}. */
export interface PairedPerplexity {
  arm: string;
  baseline: string;
  /** Each seed's final holdout perplexity of both arms. */
  perSeed: { seed: number; arm: number; baseline: number }[];
  /** Seeds on which `arm` ended lower (better). */
  wins: number;
}

/**
 * Final holdout perplexities of `arm` and `baseline` per seed both ran, or
 * `undefined` when they share none (or the task has no perplexity).
 *
 * @example
 * ```ts
 * import { pairedPerplexity } from "./paired.ts";
 * import assert from "node:assert/strict";
 * const run = (arm: string, seed: number, perplexity: number) => ({
 *   arm, seed, wallSeconds: 1, bytesSent: 0,
 *   rounds: [{ round: 1, accuracy: 0.2, loss: null, seconds: 1, bytesReceived: 0, clients: 2, perplexity }],
 * });
 * const paired = pairedPerplexity([run("a", 1, 50), run("b", 1, 55)], "a", "b")!;
 * assert.equal(paired.wins, 1);
 * ```
 */
export function pairedPerplexity(
  runs: readonly ArmRun[],
  arm: string,
  baseline: string,
): PairedPerplexity | undefined {
  const perSeed: PairedPerplexity["perSeed"] = [];
  for (const run of runs.filter((r) => r.arm === arm)) {
    const other = runs.find((r) => r.arm === baseline && r.seed === run.seed);
    const a = finalPerplexity(run);
    const b = other && finalPerplexity(other);
    if (a !== undefined && b !== undefined) perSeed.push({ seed: run.seed, arm: a, baseline: b });
  }
  if (perSeed.length === 0) return undefined;
  perSeed.sort((x, y) => x.seed - y.seed);
  return { arm, baseline, perSeed, wins: perSeed.filter((p) => p.arm < p.baseline).length };
}

/**
 * One sentence on a paired perplexity comparison: lower on every seed, or not.
 *
 * @example
 * ```ts
 * import { pairedPerplexityVerdict } from "./paired.ts";
 * import assert from "node:assert/strict";
 * const verdict = pairedPerplexityVerdict({
 *   arm: "rdrop", baseline: "supervised", wins: 1,
 *   perSeed: [{ seed: 1, arm: 50, baseline: 55 }, { seed: 2, arm: 60, baseline: 58 }],
 * });
 * assert.match(verdict, /^rdrop's perplexity is not lower than supervised's on every seed: 1 of 2/);
 * ```
 */
export function pairedPerplexityVerdict(p: PairedPerplexity): string {
  const n = p.perSeed.length;
  const seeds = p.perSeed.map((s) =>
    `seed ${s.seed}: ${s.arm.toFixed(2)} vs ${s.baseline.toFixed(2)}`
  ).join("; ");
  return p.wins === n
    ? `${p.arm}'s perplexity is lower than ${p.baseline}'s on every seed (${n} of ${n}): ${seeds}`
    : `${p.arm}'s perplexity is not lower than ${p.baseline}'s on every seed: ${p.wins} of ${n} (${seeds})`;
}
