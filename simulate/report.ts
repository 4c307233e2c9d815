/**
 * Summaries of simulator runs: per-arm means and sample standard deviations
 * over seeds, a markdown table, mean accuracy curves and a gap-vs-spread
 * comparison of two arms. Pure: everything returns values, nothing is written.
 * @module
 */

/** Metrics of one federated round. */
export interface RoundPoint {
  /** Round number. */
  round: number;
  /** Holdout accuracy in `[0, 1]` after the round, `null` where not evaluated. */
  accuracy: number | null;
  /** Holdout loss after the round, `null` where not evaluated. */
  loss: number | null;
  /** Seconds the round took. */
  seconds: number;
  /** Bytes the coordinator received during the round. */
  bytesReceived: number;
  /** Clients that took part in the round. */
  clients: number;
  /** A secure round: the clients whose masked inputs were summed. */
  secureSurvivors?: number;
  /** Differential privacy: epsilon spent after the round. */
  epsilon?: number;
  /** A sequence task: holdout perplexity after the round. */
  perplexity?: number;
}

/** One run of an arm with one seed. */
export interface ArmRun {
  /** Name of the arm, e.g. `"rdrop-ssl"`. */
  arm: string;
  /** Seed of the run. */
  seed: number;
  /** Per-round metrics, in round order. */
  rounds: RoundPoint[];
  /** Wall-clock seconds of the whole run. */
  wallSeconds: number;
  /** Bytes of the updates the clients sent over the whole run. */
  bytesSent: number;
}

/** Per-arm aggregate over seeds. */
export interface ArmSummary {
  /** Name of the arm. */
  arm: string;
  /** Number of runs (seeds) of the arm. */
  seeds: number;
  /**
   * Mean final accuracy in `[0, 1]` over the runs that report one; `NaN` when
   * no run does.
   */
  meanAccuracy: number;
  /** Sample standard deviation (n - 1) of the final accuracy; 0 for one run, `NaN` for none. */
  stdAccuracy: number;
  /** The last round of any run of the arm (round 0 is the initial model). */
  rounds: number;
  /** Mean wall-clock seconds per run. */
  meanWallSeconds: number;
  /** Mean bytes sent per run. */
  meanBytesSent: number;
  /** Differential privacy: the mean epsilon spent by the end of a run (absent without DP). */
  meanEpsilon?: number;
  /** A sequence task: mean and sample std of the final holdout perplexity. */
  meanPerplexity?: number;
  stdPerplexity?: number;
}

/** Options of {@linkcode markdownTable}. */
export interface MarkdownTableOptions {
  /** Heading put above the table as `## title`. @default none */
  title?: string;
}

/** Mean accuracy per round of one arm, from {@linkcode meanCurves}. */
export interface MeanCurve {
  /** Name of the arm. */
  arm: string;
  /** Mean and sample standard deviation over seeds, by ascending round. */
  points: { round: number; mean: number; std: number }[];
}

/** Result of {@linkcode compareArms}. */
export interface ArmComparison {
  /** Mean accuracy of the better arm minus that of the worse arm. */
  gap: number;
  /** Sum of the two arms' standard deviations. */
  sumStd: number;
  /** Whether the gap exceeds the summed standard deviations. */
  significant: boolean;
}

function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Sample standard deviation (n - 1): 0 for one value, NaN for none. */
function sampleStd(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  if (values.length === 1) return 0;
  const m = mean(values);
  const squares = values.reduce((sum, v) => sum + (v - m) ** 2, 0);
  return Math.sqrt(squares / (values.length - 1));
}

function isNumber(value: number | null | undefined): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/**
 * Accuracy of the last round that has one, or `undefined`.
 *
 * @example
 * ```ts
 * import { finalAccuracy } from "./report.ts";
 * import assert from "node:assert/strict";
 * const point = (round: number, accuracy: number | null) => ({
 *   round, accuracy, loss: null, seconds: 1, bytesReceived: 0, clients: 2,
 * });
 * assert.equal(finalAccuracy({ arm: "a", seed: 1, rounds: [point(1, 0.5), point(2, null)], wallSeconds: 1, bytesSent: 0 }), 0.5);
 * ```
 */
export function finalAccuracy(run: ArmRun): number | undefined {
  return finalOf(run, "accuracy");
}

/**
 * A run's final holdout perplexity (a sequence task): that of its last round with one.
 *
 * @example
 * ```ts
 * import { finalPerplexity } from "./report.ts";
 * import assert from "node:assert/strict";
 * const point = (round: number, perplexity?: number) => ({
 *   round, accuracy: 0.1, loss: null, seconds: 1, bytesReceived: 0, clients: 2, perplexity,
 * });
 * const run = { arm: "a", seed: 1, rounds: [point(1, 80), point(2, 60)], wallSeconds: 1, bytesSent: 0 };
 * assert.equal(finalPerplexity(run), 60);
 * ```
 */
export function finalPerplexity(run: ArmRun): number | undefined {
  return finalOf(run, "perplexity");
}

function finalOf(run: ArmRun, metric: "accuracy" | "perplexity"): number | undefined {
  for (let i = run.rounds.length - 1; i >= 0; i--) {
    const value = run.rounds[i]?.[metric];
    if (isNumber(value)) return value;
  }
  return undefined;
}

/** Runs grouped by arm, arms in first-seen order. */
function groupByArm(runs: readonly ArmRun[]): Map<string, ArmRun[]> {
  const groups = new Map<string, ArmRun[]>();
  for (const run of runs) {
    const group = groups.get(run.arm);
    if (group) group.push(run);
    else groups.set(run.arm, [run]);
  }
  return groups;
}

/**
 * Summarizes runs per arm, arms in first-seen order. A run's final accuracy is
 * that of its last round with a (non-null, finite) accuracy; runs without one
 * count in `seeds` and the wall-time and bytes means but not in the accuracy.
 *
 * @example
 * ```ts
 * import { summarize } from "./report.ts";
 * import assert from "node:assert/strict";
 * const point = (accuracy: number) => ({
 *   round: 1, accuracy, loss: null, seconds: 1, bytesReceived: 0, clients: 2,
 * });
 * const [s] = summarize([
 *   { arm: "rdrop", seed: 1, rounds: [point(0.8)], wallSeconds: 10, bytesSent: 100 },
 *   { arm: "rdrop", seed: 2, rounds: [point(0.9)], wallSeconds: 20, bytesSent: 300 },
 * ]);
 * assert.equal(s?.seeds, 2);
 * assert.ok(Math.abs(s!.meanAccuracy - 0.85) < 1e-12);
 * assert.ok(Math.abs(s!.stdAccuracy - Math.sqrt(0.005)) < 1e-12);
 * assert.equal(s?.meanWallSeconds, 15);
 * assert.equal(s?.meanBytesSent, 200);
 * ```
 */
export function summarize(runs: ArmRun[]): ArmSummary[] {
  return [...groupByArm(runs)].map(([arm, group]) => {
    const finals = group.map(finalAccuracy).filter(isNumber);
    const perplexities = group.map(finalPerplexity).filter(isNumber);
    return {
      arm,
      seeds: group.length,
      meanAccuracy: mean(finals),
      stdAccuracy: sampleStd(finals),
      rounds: Math.max(0, ...group.flatMap((run) => run.rounds.map((r) => r.round))),
      meanWallSeconds: mean(group.map((run) => run.wallSeconds)),
      meanBytesSent: mean(group.map((run) => run.bytesSent)),
      ...(epsilons(group).length ? { meanEpsilon: mean(epsilons(group)) } : {}),
      ...(perplexities.length
        ? { meanPerplexity: mean(perplexities), stdPerplexity: sampleStd(perplexities) }
        : {}),
    };
  });
}

/** The epsilon each run ended with, for runs under differential privacy. */
function epsilons(runs: ArmRun[]): number[] {
  return runs.map((run) => run.rounds.findLast((r) => r.epsilon !== undefined)?.epsilon).filter(
    isNumber,
  );
}

const BYTE_UNITS = ["B", "kB", "MB", "GB", "TB", "PB"] as const;

/** Decimal (SI) human-readable size, e.g. `"12.3 MB"`. */
function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "n/a";
  const sign = bytes < 0 ? "-" : "";
  let value = Math.abs(bytes);
  let unit = 0;
  // Step up while the rounded value would read 1000 or more ("999.96 kB" -> "1.0 MB").
  while (Number(value.toFixed(unit === 0 ? 0 : 1)) >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${sign}${value.toFixed(unit === 0 ? 0 : 1)} ${BYTE_UNITS[unit]}`;
}

function formatFixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

/** Escapes a table cell: pipes and line breaks would break the row. */
function cell(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("|", "\\|").replace(/\r?\n/g, " ");
}

/**
 * Renders summaries as a GitHub-flavoured markdown table with the columns arm,
 * holdout accuracy (mean ± sample std, in %, 2 decimals), rounds, wall time
 * (mean seconds, 1 decimal) and bytes sent (mean, decimal units). Missing
 * values read `n/a`. Ends with a newline.
 *
 * @example
 * ```ts
 * import { markdownTable } from "./report.ts";
 * import assert from "node:assert/strict";
 * const table = markdownTable([{
 *   arm: "rdrop", seeds: 3, meanAccuracy: 0.91234, stdAccuracy: 0.0045, rounds: 20,
 *   meanWallSeconds: 61.26, meanBytesSent: 12_345_678,
 * }]);
 * assert.ok(table.includes("| rdrop | 91.23 ± 0.45 | 20 | 61.3 | 12.3 MB |"));
 * ```
 */
export function markdownTable(summaries: ArmSummary[], options: MarkdownTableOptions = {}): string {
  const lines: string[] = [];
  if (options.title !== undefined) lines.push(`## ${options.title.replace(/\r?\n/g, " ")}`, "");
  const dp = summaries.some((s) => s.meanEpsilon !== undefined);
  const sequences = summaries.some((s) => s.meanPerplexity !== undefined);
  lines.push(
    `| arm | holdout accuracy (%) |${
      sequences ? " holdout perplexity |" : ""
    } rounds | wall time (s) | bytes sent |${dp ? " epsilon |" : ""}`,
    `| --- | ---: |${sequences ? " ---: |" : ""} ---: | ---: | ---: |${dp ? " ---: |" : ""}`,
  );
  for (const s of summaries) {
    const accuracy = Number.isFinite(s.meanAccuracy)
      ? `${formatFixed(s.meanAccuracy * 100, 2)} ± ${formatFixed(s.stdAccuracy * 100, 2)}`
      : "n/a";
    const cells = [
      cell(s.arm),
      accuracy,
      ...(sequences
        ? [
          s.meanPerplexity === undefined
            ? "n/a"
            : `${formatFixed(s.meanPerplexity, 2)} ± ${formatFixed(s.stdPerplexity ?? 0, 2)}`,
        ]
        : []),
      String(s.rounds),
      formatFixed(s.meanWallSeconds, 1),
      formatBytes(s.meanBytesSent),
      ...(dp ? [s.meanEpsilon === undefined ? "n/a" : formatFixed(s.meanEpsilon, 2)] : []),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n") + "\n";
}

/**
 * Mean and sample standard deviation of the accuracy per round across an
 * arm's seeds, arms in first-seen order and rounds ascending. Rounds whose
 * accuracy is null (or not finite) in a run are left out of that round's
 * statistics; rounds with no accuracy in any run are left out altogether.
 *
 * @example
 * ```ts
 * import { meanCurves } from "./report.ts";
 * import assert from "node:assert/strict";
 * const point = (round: number, accuracy: number | null) => ({
 *   round, accuracy, loss: null, seconds: 1, bytesReceived: 0, clients: 2,
 * });
 * const [curve] = meanCurves([
 *   { arm: "a", seed: 1, rounds: [point(1, 0.5), point(2, null)], wallSeconds: 1, bytesSent: 0 },
 *   { arm: "a", seed: 2, rounds: [point(1, 0.7), point(2, null)], wallSeconds: 1, bytesSent: 0 },
 * ]);
 * assert.equal(curve?.points.length, 1);
 * assert.equal(curve?.points[0]?.round, 1);
 * assert.ok(Math.abs(curve!.points[0]!.mean - 0.6) < 1e-12);
 * ```
 */
export function meanCurves(runs: ArmRun[]): MeanCurve[] {
  return [...groupByArm(runs)].map(([arm, group]) => {
    const byRound = new Map<number, number[]>();
    for (const run of group) {
      for (const point of run.rounds) {
        if (!isNumber(point.accuracy)) continue;
        const values = byRound.get(point.round);
        if (values) values.push(point.accuracy);
        else byRound.set(point.round, [point.accuracy]);
      }
    }
    const points = [...byRound]
      .sort(([a], [b]) => a - b)
      .map(([round, values]) => ({ round, mean: mean(values), std: sampleStd(values) }));
    return { arm, points };
  });
}

/**
 * Compares two arms' mean accuracies: the gap is `mean(better) - mean(worse)`
 * and counts as significant when it exceeds the sum of the two standard
 * deviations (a rough, conservative rule for a handful of seeds).
 *
 * @throws {RangeError} If either arm has no summary.
 *
 * @example
 * ```ts
 * import { compareArms } from "./report.ts";
 * import assert from "node:assert/strict";
 * const summary = (arm: string, meanAccuracy: number, stdAccuracy: number) => ({
 *   arm, seeds: 3, meanAccuracy, stdAccuracy, rounds: 10, meanWallSeconds: 1, meanBytesSent: 0,
 * });
 * const summaries = [summary("rdrop-ssl", 0.9, 0.01), summary("supervised", 0.85, 0.02)];
 * const { significant } = compareArms(summaries, "rdrop-ssl", "supervised");
 * assert.equal(significant, true);
 * ```
 */
export function compareArms(
  summaries: ArmSummary[],
  better: string,
  worse: string,
): ArmComparison {
  const find = (arm: string): ArmSummary => {
    const summary = summaries.find((s) => s.arm === arm);
    if (!summary) {
      const known = summaries.map((s) => `"${s.arm}"`).join(", ") || "none";
      throw new RangeError(`Cannot compare arms: no summary for arm "${arm}" (known: ${known})`);
    }
    return summary;
  };
  const b = find(better);
  const w = find(worse);
  const gap = b.meanAccuracy - w.meanAccuracy;
  const sumStd = b.stdAccuracy + w.stdAccuracy;
  return { gap, sumStd, significant: gap > sumStd };
}
