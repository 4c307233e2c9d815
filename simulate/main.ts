/**
 * `deno task simulate`: many federated clients on this machine against a real
 * coordinator over HTTP, one or more arms over one or more seeds; writes a
 * markdown table, a JSON file of every per-round metric, the partitions'
 * label histograms and a plot of holdout accuracy per round.
 *
 * `deno task simulate [--compare | --quick] [--config FILE] [--arms a,b] [flags]`
 * @module
 */
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { betaFlag, fail, keyValueFlag, numberFlag } from "../shared/cli.ts";
import { parseSimulateArgs } from "./args.ts";
import { countRows, featureSize } from "../shared/data/dataset.ts";
import { AggregationConfigSchema, formatZodError } from "../shared/schemas/mod.ts";
import { ARM_DESCRIPTIONS } from "./arms.ts";
import { writeDevCertificates } from "../coordinator/endpoint/dev_cert.ts";
import { readTrustedCa } from "../client/link/trust.ts";
import { isTaskFile, PRESETS, SimulationConfigSchema } from "./config.ts";
import {
  pairedDifference,
  pairedPerplexity,
  pairedPerplexityVerdict,
  pairedTable,
  pairedVerdict,
} from "./paired.ts";
import { linePlotSvg } from "./plot_svg.ts";
import { loadSimulationTask, taskFileTraining } from "./simulation_task.ts";
import { type ArmRun, compareArms, markdownTable, meanCurves, summarize } from "./report.ts";
import { runArm, type RunArmOptions, splitForSeed } from "./run_arm.ts";
import {
  loadPretrained,
  pretrainingConfig,
  pretrainingSettings,
  pretrainingTask,
  savePretrained,
} from "./pretraining.ts";
import type { Float32Tensor } from "../shared/wire/safetensors.ts";

const args = parseSimulateArgs(Deno.args);

async function configFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    fail(`cannot read "${path}": ${error instanceof Error ? error.message : error}`);
  }
  try {
    const value = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      throw new Error("not an object");
    }
    return value as Record<string, unknown>;
  } catch (error) {
    fail(
      `"${path}" is not a settings object: ${
        error instanceof Error ? error.message.split("\n")[0] : error
      }`,
    );
  }
}

const list = (value: string | undefined) => value?.split(",").map((v) => v.trim()).filter(Boolean);
const flags: Record<string, unknown> = {
  arms: list(args.arms),
  task: args.task,
  clients: numberFlag("clients", args.clients, undefined),
  fraction: numberFlag("fraction", args.fraction, undefined),
  rounds: numberFlag("rounds", args.rounds, undefined),
  localSteps: numberFlag("local-steps", args["local-steps"], undefined),
  labeledBatchSize: numberFlag("labeled-batch", args["labeled-batch"], undefined),
  unlabeledBatchSize: numberFlag("unlabeled-batch", args["unlabeled-batch"], undefined),
  alpha: numberFlag("alpha", args.alpha, undefined),
  unlabeledAlpha: numberFlag("unlabeled-alpha", args["unlabeled-alpha"], undefined),
  priorAlignment: numberFlag("prior-alignment", args["prior-alignment"], undefined),
  alphaRampUpRounds: numberFlag("ramp-up", args["ramp-up"], undefined),
  learningRate: numberFlag("learning-rate", args["learning-rate"], undefined),
  dropout: numberFlag("dropout", args.dropout, undefined),
  labeledFraction: numberFlag("labeled", args.labeled, undefined),
  pretrainRounds: numberFlag("pretrain-rounds", args["pretrain-rounds"], undefined, {
    integer: true,
  }),
  pretrainFraction: numberFlag("pretrain-fraction", args["pretrain-fraction"], undefined),
  pretrainLocalSteps: numberFlag("pretrain-local-steps", args["pretrain-local-steps"], undefined, {
    integer: true,
  }),
  pretrainLearningRate: numberFlag(
    "pretrain-learning-rate",
    args["pretrain-learning-rate"],
    undefined,
  ),
  lora: numberFlag("lora", args.lora, undefined, { integer: true }),
  labeledClients: numberFlag("labeled-clients", args["labeled-clients"], undefined, {
    integer: true,
  }),
  beta: args.beta === undefined ? undefined : betaFlag("beta", args.beta, "iid"),
  unlabeledWeight: numberFlag("unlabeled-weight", args["unlabeled-weight"], undefined),
  serverLabeled: numberFlag("server-labeled", args["server-labeled"], undefined),
  serverSteps: numberFlag("server-steps", args["server-steps"], undefined),
  centralizedSteps: numberFlag("centralized-steps", args["centralized-steps"], undefined),
  seeds: list(args.seeds)?.map((s) => numberFlag("seeds", s, 0, { integer: true })),
  strategy: args.strategy,
  codec: args.codec === undefined ? undefined : {
    kind: args.codec,
    ...(args["topk-fraction"] === undefined
      ? {}
      : { fraction: numberFlag("topk-fraction", args["topk-fraction"], undefined) }),
  },
  aggregation: args.aggregation === undefined
    ? undefined
    : keyValueFlag("aggregation", args.aggregation),
  byzantine: numberFlag("byzantine", args.byzantine, undefined),
  byzantineScale: numberFlag("byzantine-scale", args["byzantine-scale"], undefined),
  workers: numberFlag("workers", args.workers, undefined),
  secureAggregation: args["secure-aggregation"] || undefined,
  privacy: args.privacy,
  noiseMultiplier: numberFlag("noise-multiplier", args["noise-multiplier"], undefined),
  clip: numberFlag("clip", args.clip, undefined),
};
if (args.compare && args.quick) fail("give --compare or --quick, not both");
const settings: Record<string, unknown> = {
  ...(args.quick ? PRESETS.quick : args.compare ? PRESETS.compare : {}),
  ...(args.config ? await configFile(args.config) : {}),
  ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)),
};
const taskPath = typeof settings.task === "string" && isTaskFile(settings.task)
  ? settings.task
  : null;
const parsed = SimulationConfigSchema.safeParse({
  ...(taskPath ? await taskFileTraining(taskPath).catch((error) => fail(error.message)) : {}),
  ...settings,
});
if (!parsed.success) fail(formatZodError(parsed.error));
const config = parsed.data;
const aggregation = AggregationConfigSchema.safeParse({
  ...config.aggregation,
  strategy: config.strategy,
});
if (!aggregation.success) fail(`aggregation: ${formatZodError(aggregation.error)}`);

const { base, data, weights } = await loadSimulationTask(config).catch((error) =>
  fail(error.message)
);
const trainRows = countRows(data.train).numLabeled + countRows(data.train).numUnlabeled;
if (taskPath && settings.serverLabeled === undefined) {
  // A small file keeps most of its rows for the clients: a tenth at most for the coordinator.
  config.serverLabeled = Math.max(1, Math.min(config.serverLabeled, Math.floor(trainRows / 10)));
}
if (config.serverLabeled * 2 > trainRows) {
  fail(
    `--server-labeled ${config.serverLabeled} takes over half of the ${trainRows} train rows; give at most ${
      Math.floor(trainRows / 4)
    }`,
  );
}
const out = args.out ?? join("runs", `simulate-${new Date().toISOString().replace(/[:.]/g, "-")}`);
await Deno.mkdir(out, { recursive: true });

// The partitions, printed for the first seed and saved for all.
const partitions = config.seeds.map((seed) => ({ seed, ...splitForSeed(data, config, seed) }));
console.log(
  `${base.id}: ${config.clients} clients (${
    config.fraction * 100
  }% a round), ${config.rounds} rounds, ` +
    `${config.beta === "iid" ? "IID" : `Dirichlet(${config.beta})`}, ${
      config.labeledFraction * 100
    }% labeled${
      config.labeledClients === undefined
        ? ""
        : ` on the first ${config.labeledClients} clients, none on the rest`
    }; ` +
    `arms ${config.arms.join(", ")}; seeds ${config.seeds.join(", ")}`,
);
console.log(
  `${data.groups ? "genre" : "label"} histogram per client (seed ${config.seeds[0]}):`,
);
for (const [i, counts] of partitions[0]!.histogram.entries()) {
  const labeled = countRows(partitions[0]!.shards[i]!).numLabeled;
  console.log(
    `  client-${String(i + 1).padEnd(3)} ${
      counts.map((c) => String(c).padStart(4)).join(" ")
    }  (${labeled} labeled)`,
  );
}
await Deno.writeTextFile(
  join(out, "partition.json"),
  JSON.stringify(
    partitions.map((p) => ({
      seed: p.seed,
      clients: p.histogram.map((counts, i) => ({
        client: `client-${i + 1}`,
        labelCounts: counts,
        labeled: countRows(p.shards[i]!).numLabeled,
        rows: p.shards[i]!.x.length / featureSize(p.shards[i]!),
      })),
      serverLabeled: countRows(p.server).numLabeled,
    })),
    null,
    2,
  ),
);

// The pretrained arms start from a federated pretraining per seed.
if (config.lora !== undefined && !config.arms.some((arm) => arm.startsWith("pretrained-"))) {
  fail(
    "--lora fine-tunes the pretrained arms: give --arms pretrained-supervised or pretrained-rdrop-ssl",
  );
}
const pretraining = config.arms.some((arm) => arm.startsWith("pretrained-"))
  ? await pretrainingTask(base).catch((error) => fail(error.message))
  : null;
// The runs, with a progress bar.
const total = config.arms.length * config.seeds.length * config.rounds +
  (pretraining && !args["pretrained-from"] ? config.seeds.length * config.pretrainRounds : 0);
let done = 0;
const tty = Deno.stdout.isTerminal();
const encoder = new TextEncoder();
function progress(text: string): void {
  done++;
  const width = 30;
  const filled = Math.round((done / total) * width);
  const line = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${text}`;
  if (tty) Deno.stdout.writeSync(encoder.encode(`\r\x1b[K${line}`));
  else console.log(line);
}
const given = [args["tls-cert"], args["tls-key"], args["ca-cert"]];
if (given.some(Boolean) && !given.every(Boolean)) {
  fail("give --tls-cert, --tls-key and --ca-cert together (or --tls alone for development ones)");
}
let tls: RunArmOptions["tls"];
if (args.tls || given.every(Boolean)) {
  const files = given.every(Boolean)
    ? { cert: args["tls-cert"]!, key: args["tls-key"]!, caCert: args["ca-cert"]! }
    : await writeDevCertificates({ dir: join(out, ".certs"), hosts: ["localhost", "127.0.0.1"] });
  const read = (flag: string, file: string) =>
    Deno.readTextFile(file).catch((error) => fail(`--${flag} ${file}: ${error.message}`));
  tls = {
    cert: await read("tls-cert", files.cert),
    key: await read("tls-key", files.key),
    caCert: await readTrustedCa(files.caCert).catch((error) => fail(error.message)),
  };
}
const runs: ArmRun[] = [];
const started = performance.now();
for (const seed of config.seeds) {
  const options = (arm: string) => ({
    config,
    seed,
    data,
    base,
    weights,
    tls,
    onRound: (p: { round: number; accuracy: number | null }) =>
      progress(
        `${arm} seed ${seed} round ${p.round}: accuracy ${((p.accuracy ?? 0) * 100).toFixed(2)}%`,
      ),
  });
  // Pretraining on every client's rows (labels unused), shared by the pretrained arms.
  let pretrained: Map<string, Float32Tensor> | undefined;
  const settings = pretrainingSettings(config, seed);
  if (pretraining && args["pretrained-from"]) {
    pretrained = await loadPretrained(args["pretrained-from"], settings).catch((error) =>
      fail(error.message)
    );
  } else if (pretraining) {
    await runArm("rdrop", {
      ...options("pretraining"),
      config: pretrainingConfig(config),
      base: pretraining,
      onWeights: (weights) => (pretrained = weights),
    });
    await savePretrained(out, settings, pretrained!);
  }
  // The centralized arm trains in its own worker beside the federated arms.
  const central = config.arms.includes("centralized")
    ? runArm("centralized", options("centralized"))
    : null;
  central?.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
  const seedRuns: ArmRun[] = [];
  for (const arm of config.arms) {
    if (arm !== "centralized") {
      // A task the coordinator refuses (e.g. a strategy secure aggregation cannot run) says why.
      const start = arm.startsWith("pretrained-") ? { weights: pretrained } : {};
      seedRuns.push(
        await runArm(arm, { ...options(arm), ...start }).catch((error) =>
          error instanceof TypeError ? fail(error.message) : Promise.reject(error)
        ),
      );
    }
  }
  if (central) seedRuns.push(await central);
  runs.push(...config.arms.map((arm) => seedRuns.find((r) => r.arm === arm)!));
}
if (tty) Deno.stdout.writeSync(encoder.encode("\n"));

const summaries = summarize(runs);
const table = markdownTable(summaries, {
  title: `${base.id}, ${config.clients} clients, ${config.labeledFraction * 100}% labeled${
    config.labeledClients === undefined ? "" : ` on ${config.labeledClients} of them`
  }, ${config.rounds} rounds${config.strategy === "fedavg" ? "" : `, ${config.strategy}`}${
    config.byzantine ? `, ${config.byzantine} attackers` : ""
  }${config.lora === undefined ? "" : `, the pretrained arms with LoRA rank ${config.lora}`}`,
});
const curves = meanCurves(runs);
const svg = linePlotSvg(
  curves.map((c) => ({
    name: c.arm,
    points: c.points.map((p) => ({ x: p.round, y: 100 * p.mean, band: 100 * p.std })),
  })),
  {
    title: `${base.id}: holdout accuracy per round (mean ± std over ${config.seeds.length} seeds)`,
    xLabel: "round",
    yLabel: "accuracy (%)",
  },
);
const comparisons: Record<string, unknown> = {};
const has = (arm: string) => summaries.some((s) => s.arm === arm);
for (
  const [better, worse] of [["rdrop-ssl", "supervised"], ["rdrop-ssl-server", "rdrop-ssl"], [
    "rdrop",
    "supervised",
  ]]
) {
  if (has(better!) && has(worse!)) {
    comparisons[`${better} vs ${worse}`] = compareArms(summaries, better!, worse!);
  }
}
// Paired by seed (the arms of a seed share its partition): every arm against
// supervised, and the two gains told apart, server labels and the unlabeled term.
const pairs: [string, string][] = [
  ...config.arms.filter((arm) => arm !== "supervised").map((arm): [string, string] => [
    arm,
    "supervised",
  ]),
  ["rdrop-ssl-server", "supervised-server"],
  ["pretrained-rdrop-ssl", "pretrained-supervised"],
  ["rdrop-ssl-server", "rdrop-ssl"],
];
const paired = pairs.flatMap(([arm, baseline]) => {
  const p = pairedDifference(runs, arm, baseline);
  return p ? [p] : [];
});
// A sequence task: each arm's final perplexity against supervised's, seed by seed.
const perplexity = pairs.flatMap(([arm, baseline]) => {
  const p = pairedPerplexity(runs, arm, baseline);
  return p ? [p] : [];
});
const perplexityLines = perplexity.map(pairedPerplexityVerdict);
const baselineLines = Object.entries(data.baselines ?? {}).map(([name, accuracy]) =>
  `baseline, ${name}: ${(100 * accuracy).toFixed(2)}% holdout accuracy`
);
await Deno.writeTextFile(
  join(out, "table.md"),
  table + (paired.length ? `\n${pairedTable(paired)}` : "") +
    (perplexityLines.length ? `\n${perplexityLines.map((l) => `- ${l}`).join("\n")}\n` : "") +
    (baselineLines.length ? `\n${baselineLines.map((l) => `- ${l}`).join("\n")}\n` : "") +
    "\n",
);
await Deno.writeTextFile(join(out, "accuracy.svg"), svg);
await Deno.writeTextFile(
  join(out, "results.json"),
  JSON.stringify(
    {
      config,
      arms: ARM_DESCRIPTIONS,
      summaries,
      comparisons,
      paired,
      pairedPerplexity: perplexity,
      baselines: data.baselines ?? {},
      runs,
    },
    null,
    2,
  ),
);
console.log(`\n${table}`);
if (paired.length) console.log(pairedTable(paired));
for (const [name, c] of Object.entries(comparisons)) {
  const { gap, sumStd, significant } = c as { gap: number; sumStd: number; significant: boolean };
  console.log(
    `${name}: ${gap >= 0 ? "+" : ""}${(100 * gap).toFixed(2)} points (sum of std ${
      (100 * sumStd).toFixed(2)
    })${significant ? "" : ", within the spread"}`,
  );
}
for (const p of paired) console.log(pairedVerdict(p));
for (const line of [...perplexityLines, ...baselineLines]) console.log(line);
console.log(
  `done in ${
    ((performance.now() - started) / 1000).toFixed(0)
  } s; wrote ${out}/{table.md,results.json,partition.json,accuracy.svg}`,
);
