/**
 * The worked example, all in one: pretrains the CNN if needed, then serves
 * task.yaml on a coordinator and runs one client per data shard (in workers,
 * over HTTP) until the fine-tuning is done. Prints the accuracy on digits 5-9
 * before and after, and the bytes of an update with and without freezing.
 *
 * `deno task finetune [--rounds N]`
 * @module
 */
import { dirname, join } from "node:path";
import { fail, numberFlag, parseFlags } from "../../shared/cli.ts";
import { readDataset } from "../../shared/data/read_data.ts";
import { spawnClientWorker } from "../../client/spawn_worker.ts";
import { parseTaskText, readPretrained, resolveTaskFile } from "../../coordinator/cli/load_task.ts";
import { startCoordinator } from "../../coordinator/serve.ts";
import { selectRows } from "../../shared/data/dataset.ts";
import { loadMnistSplit } from "../../shared/data/mnist.ts";
import { adapters } from "../../shared/lora/apply_lora.ts";
import { buildModel, writeWeights } from "../../shared/model/model.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type Float32Tensor,
} from "../../shared/wire/safetensors.ts";
import { accuracy, digits } from "./pretrain.ts";

const HELP =
  `Usage: deno task finetune [--rounds N] [--lora RANK [--aggregation ffa|naive] [--full-head]] [--all-trainable]

Federated fine-tuning of the pretrained CNN on digits 5-9 (see docs/fine-tuning.md).
  --lora RANK        low-rank adapters of rank RANK on dense1 and logits (alpha 2 x RANK),
                     every other weight frozen, instead of task.yaml's frozen convolutions
  --aggregation      ffa (A fixed, only B trains: exact FedAvg; default) or naive (A and B)
  --full-head        adapters on dense1 only; the logits layer (650 weights) trains in full
                     (lora.modulesToSave, PEFT's modules_to_save)
  --learning-rate X  the clients' learning rate (task.yaml: 0.002)
  --all-trainable    nothing frozen (the full fine-tuning baseline)`;
const args = parseFlags(Deno.args, ["rounds", "lora", "aggregation", "learning-rate"], HELP, {
  booleans: ["all-trainable", "full-head"],
});
const dir = join("examples", "mnist-finetune");

if (!(await Deno.stat(join(dir, "pretrained", "model.json")).catch(() => null))) {
  console.log("no pretrained model yet: running deno task pretrain first");
  const pretrain = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      join(dir, "pretrain.ts"),
    ],
  });
  if (!(await pretrain.spawn().status).success) Deno.exit(1);
}

const raw = parseTaskText(await Deno.readTextFile(join(dir, "task.yaml")), "task.yaml") as {
  model: Record<string, unknown>;
  training: Record<string, unknown>;
};
const rank = args.lora === undefined
  ? undefined
  : numberFlag("lora", args.lora, 4, { min: 1, integer: true });
if (args.aggregation !== undefined && !["ffa", "naive"].includes(args.aggregation)) {
  fail(`--aggregation must be ffa or naive, not "${args.aggregation}"`);
}
if (rank !== undefined && args["all-trainable"]) fail("give --lora or --all-trainable, not both");
if (rank === undefined && (args["full-head"] || args.aggregation !== undefined)) {
  fail("--full-head and --aggregation go with --lora RANK");
}
if (rank !== undefined || args["all-trainable"]) delete raw.model.frozen;
if (rank !== undefined) {
  raw.model.lora = {
    rank,
    targets: args["full-head"] ? ["dense1"] : ["dense1", "logits"],
    modulesToSave: args["full-head"] ? ["logits"] : [],
    aggregation: args.aggregation ?? "ffa",
  };
}
if (args["learning-rate"] !== undefined) {
  raw.training.learningRate = numberFlag("learning-rate", args["learning-rate"], 0.002, { min: 0 });
}
const task = await resolveTaskFile(raw, { baseDir: dir, source: join(dir, "task.yaml") });
const setting = rank !== undefined
  ? `LoRA rank ${rank} (${args.aggregation ?? "ffa"})${args["full-head"] ? ", logits in full" : ""}`
  : args["all-trainable"]
  ? "nothing frozen"
  : "the frozen layers of task.yaml";
task.config.rounds.total = numberFlag("rounds", args.rounds, task.config.rounds.total, {
  min: 1,
  integer: true,
});
const shards: string[] = [];
for await (const entry of Deno.readDir(join(dir, "data"))) {
  if (/^client-\d+\.jsonl$/.test(entry.name)) shards.push(join(dir, "data", entry.name));
}
shards.sort();
task.config.rounds.targetClients = shards.length;

const runDir = join("runs", `finetune-${new Date().toISOString().replace(/[:.]/g, "-")}`);
const coordinator = await startCoordinator({
  tasks: [task],
  runDir,
  // The clients' updates, to measure what naive adapter averaging misses.
  keepUpdates: rank !== undefined,
  onRound: (_id, m) =>
    console.log(
      `round ${m.round}: ${m.clients} clients, ${m.numLabeled} labeled + ${m.numUnlabeled} unlabeled, ` +
        `accuracy on digits 5-9 ${(100 * m.accuracy!).toFixed(2)}%, ` +
        (m.clients ? `${Math.round(m.bytesReceived / m.clients)} bytes per update, ` : "") +
        `${m.seconds.toFixed(1)} s`,
    ),
});
// Authentication on, as in the demo: each client enrols, then uses its own token.
const enrolmentToken = coordinator.auth.createEnrolmentToken();
const clients = await Promise.all(shards.map(async (path, i) => {
  const dataset = await readDataset(path, task.config.input);
  return spawnClientWorker({
    coordinator: coordinator.url,
    dataset,
    clientId: `client-${i + 1}`,
    enrolmentToken,
    seed: i,
  });
}));
await Promise.all([coordinator.federation.finished, ...clients.map((c) => c.done)]);
const status = coordinator.federation.status();
const finalWeights = decodeSafetensors(coordinator.federation.globalModel().safetensors).tensors;
await coordinator.shutdown();

// What the fine-tuned model still knows of digits 0-4 (which no client holds).
const { holdout } = await loadMnistSplit();
const model = await buildModel(task.config.model.topology);
writeWeights(model, finalWeights);
const oldDigits = accuracy(model, selectRows(holdout, digits(holdout, 0, 4)));
model.dispose();

// The update of the same model with nothing frozen, for comparison.
const all = new Map(task.weights!);
const fullBytes = encodeSafetensors(all, {
  round: "1",
  baseVersion: "0",
  numLabeled: "1",
  numUnlabeled: "1",
}).byteLength;
const first = status.history[0]!;
const last = status.history.at(-1)!;
const sent = status.history.find((h) => h.clients > 0)!;
console.log(
  `fine-tuned: accuracy on digits 5-9 ${(100 * first.accuracy!).toFixed(2)}% -> ${
    (100 * last.accuracy!).toFixed(2)
  }% (digits 0-4, which no client holds: ${(100 * oldDigits).toFixed(2)}%); an update is ${
    Math.round(sent.bytesReceived / sent.clients)
  } bytes with ${setting}, ` +
    `${fullBytes} bytes with nothing frozen; final model ${status.finalModel}`,
);

// Adapters: what averaging A and B apart misses of the mean of the clients'
// products in the last round (zero, up to rounding, under ffa).
if (rank !== undefined && status.history.length >= 2) {
  const round = last.round;
  const before = status.history.at(-2)!.checkpoint;
  const start = before ? (await readPretrained(dirname(before))).weights : task.weights!;
  const kept = join(runDir, task.config.id, "updates", `round-${String(round).padStart(4, "0")}`);
  const deltas: Map<string, Float32Tensor>[] = [];
  for await (const entry of Deno.readDir(kept)) {
    deltas.push(decodeSafetensors(await Deno.readFile(join(kept, entry.name))).tensors);
  }
  for (const { name: layer } of adapters(task.config.model.topology)) {
    const at = (m: Map<string, Float32Tensor>, name: string) => m.get(`${layer}/${name}`);
    const a0 = start.get(`${layer}/lora_A`) ?? finalWeights.get(`${layer}/lora_A`)!;
    const b0 = start.get(`${layer}/lora_B`)!;
    const product = (a: Float32Array, b: Float32Array) => {
      const [inputs, r] = a0.shape as [number, number];
      const units = b0.shape[1]!;
      const out = new Float64Array(inputs * units);
      for (let i = 0; i < inputs; i++) {
        for (let k = 0; k < r; k++) {
          for (let j = 0; j < units; j++) out[i * units + j]! += a[i * r + k]! * b[k * units + j]!;
        }
      }
      return out;
    };
    const plus = (base: Float32Array, d?: Float32Tensor) =>
      d ? Float32Array.from(base, (v, i) => v + d.data[i]!) : base;
    const as = deltas.map((d) => plus(a0.data, at(d, "lora_A")));
    const bs = deltas.map((d) => plus(b0.data, at(d, "lora_B")));
    const mean = (list: ArrayLike<number>[]) =>
      Float64Array.from(
        { length: list[0]!.length },
        (_, i) => list.reduce((s, l) => s + l[i]!, 0) / list.length,
      );
    const exact = mean(as.map((a, k) => product(a, bs[k]!)));
    const averaged = product(Float32Array.from(mean(as)), Float32Array.from(mean(bs)));
    const startProduct = product(a0.data, b0.data);
    let miss = 0;
    let change = 0;
    for (let i = 0; i < exact.length; i++) {
      miss += (averaged[i]! - exact[i]!) ** 2;
      change += (exact[i]! - startProduct[i]!) ** 2;
    }
    const what = !Number.isFinite(miss + change)
      ? "cannot be measured: the adapters are not finite (training diverged; try a lower --learning-rate)"
      : change === 0
      ? "cannot be measured: the clients did not change A B"
      : `is ${(100 * Math.sqrt(miss / change)).toFixed(2)}% of the round's change of it`;
    console.log(
      `${layer}: what averaging A and B apart misses of the mean of the ${deltas.length} clients' ` +
        `products A B ${what} (round ${round}, equal weights)`,
    );
  }
}
