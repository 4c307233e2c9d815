import assert from "node:assert/strict";
import {
  type ArmRun,
  type ArmSummary,
  compareArms,
  markdownTable,
  meanCurves,
  type RoundPoint,
  summarize,
} from "./report.ts";

function point(round: number, accuracy: number | null): RoundPoint {
  return {
    round,
    accuracy,
    loss: accuracy === null ? null : 1 - accuracy,
    seconds: 1,
    bytesReceived: 10,
    clients: 3,
  };
}

function run(
  arm: string,
  seed: number,
  accuracies: (number | null)[],
  extra: Partial<ArmRun> = {},
): ArmRun {
  return {
    arm,
    seed,
    rounds: accuracies.map((a, i) => point(i + 1, a)),
    wallSeconds: 10 * seed,
    bytesSent: 1000 * seed,
    ...extra,
  };
}

function summary(arm: string, meanAccuracy: number, stdAccuracy: number): ArmSummary {
  return {
    arm,
    seeds: 3,
    meanAccuracy,
    stdAccuracy,
    rounds: 20,
    meanWallSeconds: 60,
    meanBytesSent: 1e6,
  };
}

function close(actual: number | undefined, expected: number, message?: string) {
  assert.ok(
    actual !== undefined && Math.abs(actual - expected) < 1e-12,
    `${message ?? ""} ${actual} != ${expected}`,
  );
}

Deno.test("summarize() gives means and sample standard deviations per arm", () => {
  const summaries = summarize([
    run("rdrop", 1, [0.5, 0.7]),
    run("supervised", 1, [0.4, 0.6]),
    run("rdrop", 2, [0.5, 0.8]),
    run("rdrop", 3, [0.5, 0.9]),
  ]);
  assert.deepEqual(summaries.map((s) => s.arm), ["rdrop", "supervised"]);
  const [rdrop, supervised] = summaries;
  assert.equal(rdrop?.seeds, 3);
  // Final accuracies 0.7, 0.8, 0.9: mean 0.8, squared deviations 0.01 + 0 + 0.01 over n - 1 = 2.
  close(rdrop?.meanAccuracy, 0.8);
  close(rdrop?.stdAccuracy, 0.1);
  assert.equal(rdrop?.rounds, 2);
  close(rdrop?.meanWallSeconds, 20);
  close(rdrop?.meanBytesSent, 2000);
  // One seed: std 0.
  assert.equal(supervised?.seeds, 1);
  close(supervised?.meanAccuracy, 0.6);
  assert.equal(supervised?.stdAccuracy, 0);
});

Deno.test("summarize() takes the last round with an accuracy and skips runs without one", () => {
  const [s] = summarize([
    run("rdrop-ssl", 1, [0.5, 0.6, null]), // final 0.6
    run("rdrop-ssl", 2, [null, 0.9, null]), // final 0.9
    run("rdrop-ssl", 3, [null, null, null]), // no final accuracy
  ]);
  assert.equal(s?.seeds, 3);
  assert.equal(s?.rounds, 3);
  close(s?.meanAccuracy, 0.75);
  // (0.15² + 0.15²) / 1
  close(s?.stdAccuracy, Math.sqrt(0.045));
  close(s?.meanWallSeconds, 20);
});

Deno.test("summarize() reports NaN accuracy for an arm that never evaluated", () => {
  const [s] = summarize([run("centralized", 1, [null]), run("centralized", 2, [])]);
  assert.equal(s?.seeds, 2);
  assert.equal(s?.rounds, 1);
  assert.ok(Number.isNaN(s?.meanAccuracy));
  assert.ok(Number.isNaN(s?.stdAccuracy));
  assert.deepEqual(summarize([]), []);
});

Deno.test("markdownTable() renders a GitHub-flavoured table", () => {
  const table = markdownTable([
    {
      arm: "rdrop-ssl",
      seeds: 3,
      meanAccuracy: 0.91234,
      stdAccuracy: 0.00456,
      rounds: 20,
      meanWallSeconds: 61.26,
      meanBytesSent: 12_345_678,
    },
    {
      arm: "supervised",
      seeds: 1,
      meanAccuracy: 0.8,
      stdAccuracy: 0,
      rounds: 5,
      meanWallSeconds: 3,
      meanBytesSent: 512,
    },
    {
      arm: "a|b",
      seeds: 1,
      meanAccuracy: NaN,
      stdAccuracy: NaN,
      rounds: 0,
      meanWallSeconds: 0.04,
      meanBytesSent: 999_960,
    },
  ], { title: "MNIST, 10 clients" });
  const lines = table.trimEnd().split("\n");
  assert.equal(lines[0], "## MNIST, 10 clients");
  assert.equal(lines[1], "");
  assert.equal(lines[2], "| arm | holdout accuracy (%) | rounds | wall time (s) | bytes sent |");
  assert.match(lines[3]!, /^\|( *:?-{3,}:? *\|){5}$/);
  assert.equal(lines[4], "| rdrop-ssl | 91.23 ± 0.46 | 20 | 61.3 | 12.3 MB |");
  assert.equal(lines[5], "| supervised | 80.00 ± 0.00 | 5 | 3.0 | 512 B |");
  assert.equal(lines[6], "| a\\|b | n/a | 0 | 0.0 | 1.0 MB |");
  assert.equal(lines.length, 7);
  assert.ok(table.endsWith("|\n"));
});

Deno.test("markdownTable() without a title starts with the header", () => {
  const table = markdownTable([summary("rdrop", 0.5, 0.1)]);
  assert.ok(table.startsWith("| arm |"));
  assert.ok(table.includes("| rdrop | 50.00 ± 10.00 | 20 | 60.0 | 1.0 MB |"));
  assert.equal(markdownTable([]).trimEnd().split("\n").length, 2);
});

Deno.test("meanCurves() averages accuracy per round across seeds", () => {
  const curves = meanCurves([
    run("rdrop", 1, [0.2, 0.4, null]),
    run("supervised", 1, [0.1]),
    run("rdrop", 2, [0.4, null, null]),
    run("rdrop", 3, [0.6, 0.8]),
  ]);
  assert.deepEqual(curves.map((c) => c.arm), ["rdrop", "supervised"]);
  const [rdrop, supervised] = curves;
  assert.deepEqual(rdrop?.points.map((p) => p.round), [1, 2]); // round 3 has no accuracy
  close(rdrop?.points[0]?.mean, 0.4);
  close(rdrop?.points[0]?.std, 0.2); // (0.04 + 0 + 0.04) / 2
  close(rdrop?.points[1]?.mean, 0.6); // 0.4 and 0.8; the null is skipped
  close(rdrop?.points[1]?.std, Math.sqrt(0.08));
  assert.deepEqual(supervised?.points, [{ round: 1, mean: 0.1, std: 0 }]);
});

Deno.test("meanCurves() sorts rounds ascending", () => {
  const [curve] = meanCurves([{
    arm: "a",
    seed: 1,
    rounds: [point(3, 0.3), point(1, 0.1), point(2, 0.2)],
    wallSeconds: 1,
    bytesSent: 1,
  }]);
  assert.deepEqual(curve?.points.map((p) => p.round), [1, 2, 3]);
});

Deno.test("compareArms() calls a gap significant only when it exceeds the summed std", () => {
  const summaries = [
    summary("rdrop-ssl", 0.9, 0.01),
    summary("supervised", 0.85, 0.02),
    summary("rdrop", 0.88, 0.02),
  ];
  const wide = compareArms(summaries, "rdrop-ssl", "supervised");
  close(wide.gap, 0.05);
  close(wide.sumStd, 0.03);
  assert.equal(wide.significant, true);

  const narrow = compareArms(summaries, "rdrop-ssl", "rdrop");
  close(narrow.gap, 0.02);
  close(narrow.sumStd, 0.03);
  assert.equal(narrow.significant, false);

  const reversed = compareArms(summaries, "supervised", "rdrop-ssl");
  close(reversed.gap, -0.05);
  assert.equal(reversed.significant, false);
});

Deno.test("compareArms() is not significant when a mean is NaN", () => {
  const result = compareArms([summary("a", NaN, NaN), summary("b", 0.5, 0)], "a", "b");
  assert.equal(result.significant, false);
});

Deno.test("compareArms() throws a RangeError naming a missing arm", () => {
  const summaries = [summary("rdrop", 0.9, 0.01)];
  assert.throws(() => compareArms(summaries, "rdrop", "centralized"), (error: unknown) => {
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /"centralized"/);
    return true;
  });
  assert.throws(() => compareArms(summaries, "nope", "rdrop"), RangeError);
});
