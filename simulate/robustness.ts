/**
 * The robustness experiment: a federation in which some clients attack (they
 * send their delta flipped and scaled), aggregated by FedAvg and by the
 * robust strategies, against the same federation without the attackers.
 *
 * `deno task robustness [--out DIR]` writes robustness.md and robustness.json.
 * @module
 */
import { join } from "node:path";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import { type StrategyName, TaskConfigSchema } from "../shared/schemas/mod.ts";
import { mnistMlpTopology } from "../shared/tasks/mnist_mlp.ts";
import { builtinModel } from "../shared/tasks/mod.ts";
import { type SimulationConfig, SimulationConfigSchema } from "./config.ts";
import { runArm, type SimulationData } from "./run_arm.ts";

/** One run of the experiment. */
export interface RobustnessRow {
  /** What ran, e.g. "median, 2 attackers". */
  name: string;
  strategy: StrategyName;
  attackers: number;
  clients: number;
  /** Final holdout accuracy. */
  accuracy: number;
  /** Accuracy per round, round 0 first. */
  curve: number[];
}

/** Options of {@linkcode runRobustness}. */
export interface RobustnessOptions {
  /** Simulation settings shared by every run (clients, rounds, steps...). */
  base?: Partial<SimulationConfig>;
  /** Attacking clients. @default 2 */
  attackers?: number;
  /** Factor of the attackers' sign-flipped deltas. @default 10 */
  scale?: number;
  /** Strategies run with the attackers. @default fedavg, median, trimmed-mean, krum */
  strategies?: StrategyName[];
  /** The data. @default MNIST, seeded split */
  data?: SimulationData;
  /** Called after each run. */
  onRun?: (row: RobustnessRow) => void;
}

/** Settings of the experiment unless overridden: 8 IID clients, all rows labeled. */
export const ROBUSTNESS_DEFAULTS: Partial<SimulationConfig> = {
  clients: 8,
  rounds: 8,
  localSteps: 20,
  labeledFraction: 1,
  beta: "iid",
  arms: ["supervised"],
};

/**
 * Runs the honest-only federation (the attackers left out, FedAvg) and then
 * the full one with attackers under each strategy. Trimmed mean cuts the
 * attackers' share from each end; Krum tolerates f = attackers and averages
 * the n - f most central updates (multi-Krum).
 */
export async function runRobustness(options: RobustnessOptions = {}): Promise<RobustnessRow[]> {
  const { attackers = 2, scale = 10 } = options;
  const strategies = options.strategies ?? ["fedavg", "median", "trimmed-mean", "krum"];
  const config = SimulationConfigSchema.parse({ ...ROBUSTNESS_DEFAULTS, ...options.base });
  const data = options.data ?? await loadMnistSplit();
  const base = TaskConfigSchema.parse({
    id: "mnist-mlp",
    model: { topology: mnistMlpTopology({ dropout: config.dropout }) },
    input: builtinModel("mnist-mlp").input,
  });
  const arm = config.arms[0]!;
  const seed = config.seeds[0]!;
  const rows: RobustnessRow[] = [];
  const run = async (name: string, runConfig: SimulationConfig) => {
    const result = await runArm(arm, { config: runConfig, seed, data, base });
    const curve = result.rounds.map((r) => r.accuracy ?? 0);
    const row: RobustnessRow = {
      name,
      strategy: runConfig.strategy,
      attackers: runConfig.byzantine,
      clients: runConfig.clients,
      accuracy: curve.at(-1)!,
      curve,
    };
    rows.push(row);
    options.onRun?.(row);
  };
  // Honest only: the same honest clients (same shards, same seeds), no attacker.
  await run("fedavg, honest clients only", { ...config, absent: attackers, strategy: "fedavg" });
  const n = config.clients;
  const aggregation: Partial<Record<StrategyName, Record<string, unknown>>> = {
    "trimmed-mean": { trimBeta: Math.min(0.49, (attackers + 0.5) / n) },
    krum: { krumF: attackers, krumM: n - attackers },
  };
  for (const strategy of strategies) {
    await run(`${strategy}, ${attackers} attackers`, {
      ...config,
      strategy,
      aggregation: aggregation[strategy] ?? {},
      byzantine: attackers,
      byzantineScale: scale,
    });
  }
  return rows;
}

/** The rows as a markdown table, with the gap to the honest-only run. */
export function robustnessTable(rows: readonly RobustnessRow[], title: string): string {
  const honest = rows.find((r) => r.attackers === 0);
  const lines = [
    `## ${title}`,
    "",
    "| run | holdout accuracy (%) | vs honest only (points) |",
    "| --- | ---: | ---: |",
  ];
  for (const row of rows) {
    const gap = honest ? (100 * (row.accuracy - honest.accuracy)).toFixed(2) : "n/a";
    lines.push(
      `| ${row.name} | ${(100 * row.accuracy).toFixed(2)} | ${row === honest ? "" : gap} |`,
    );
  }
  return lines.join("\n") + "\n";
}

if (import.meta.main) {
  const outIndex = Deno.args.indexOf("--out");
  const out = outIndex >= 0
    ? Deno.args[outIndex + 1]!
    : join("runs", `robustness-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  await Deno.mkdir(out, { recursive: true });
  const started = performance.now();
  const rows = await runRobustness({
    onRun: (row) => console.log(`${row.name}: ${(100 * row.accuracy).toFixed(2)}%`),
  });
  const c = { ...ROBUSTNESS_DEFAULTS };
  const table = robustnessTable(
    rows,
    `mnist-mlp, ${c.clients} IID clients (all rows labeled), ${c.rounds} rounds, 2 attackers sending -10 x their delta`,
  );
  await Deno.writeTextFile(join(out, "robustness.md"), table);
  await Deno.writeTextFile(join(out, "robustness.json"), JSON.stringify(rows, null, 2));
  console.log(`\n${table}`);
  console.log(
    `done in ${
      ((performance.now() - started) / 1000).toFixed(0)
    } s; wrote ${out}/robustness.{md,json}`,
  );
}
