/**
 * The text worked example: the built-in `spam-text` model is pretrained
 * centrally on a part of the SpamAssassin corpus, then fine-tuned federatedly
 * on the rest by clients that hold few labels, with low-rank adapters on its
 * dense layer and its two-class head trained in full (or, for comparison,
 * with nothing frozen, or with the embedding frozen). Prints the holdout
 * accuracy before and after, and the bytes of an update.
 *
 * `deno task finetune-text [--lora RANK] [--all-trainable | --frozen-embedding]`
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { startBackend } from "../../client/training/backend.ts";
import { fail, numberFlag, parseFlags } from "../../shared/cli.ts";
import { spawnClientWorker } from "../../client/spawn_worker.ts";
import { writeCheckpoint } from "../../coordinator/storage/checkpoint.ts";
import { resolveTaskFile } from "../../coordinator/cli/load_task.ts";
import { startCoordinator } from "../../coordinator/serve.ts";
import { type Dataset, selectRows } from "../../shared/data/dataset.ts";
import { buildModel, readWeights } from "../../shared/model/model.ts";
import { partition } from "../../shared/data/partition.ts";
import { seededRandom, shuffle } from "../../shared/random.ts";
import { loadSpamSplit } from "../../shared/data/spam.ts";
import { spamTextTask } from "../../shared/tasks/spam_text.ts";
import { toTfjsArtifacts } from "../../shared/model/tfjs_format.ts";

const HELP =
  `Usage: deno task finetune-text [--lora RANK] [--all-trainable | --frozen-embedding] [options]

Pretrains spam-text centrally on a part of the SpamAssassin corpus, then fine-tunes it
federatedly on the rest (see docs/fine-tuning.md). By default: LoRA rank 4 (ffa) on dense1, the logits
layer trained in full, the embedding frozen.
  --lora RANK         the adapters' rank (default 4)
  --all-trainable     nothing frozen, no adapters (the full fine-tuning baseline)
  --frozen-embedding  the embedding frozen, dense1 and logits trained in full, no adapters
  --rounds N          federated rounds (default 5)
  --clients N         clients (default 4)
  --labeled F         labeled fraction of each client's rows (default 0.05)
  --pretrain F        fraction of the train e-mails used to pretrain, all labeled (default 0.2);
                      pretrained once into examples/spam-finetune/pretrained/, then reused
  --learning-rate X   the clients' learning rate (default 0.005)`;
const args = parseFlags(
  Deno.args,
  ["lora", "rounds", "clients", "labeled", "pretrain", "learning-rate"],
  HELP,
  { booleans: ["all-trainable", "frozen-embedding"] },
);
if (args["all-trainable"] && args["frozen-embedding"]) {
  fail("give --all-trainable or --frozen-embedding, not both");
}
if ((args["all-trainable"] || args["frozen-embedding"]) && args.lora !== undefined) {
  fail("--lora does not go with --all-trainable or --frozen-embedding");
}
const rank = args["all-trainable"] || args["frozen-embedding"]
  ? undefined
  : numberFlag("lora", args.lora, 4, { min: 1, integer: true });
const rounds = numberFlag("rounds", args.rounds, 5, { min: 1, integer: true });
const clients = numberFlag("clients", args.clients, 4, { min: 1, integer: true });
const labeledFraction = numberFlag("labeled", args.labeled, 0.05, { min: 0, max: 1 });
const pretrainFraction = numberFlag("pretrain", args.pretrain, 0.2, { min: 0.01, max: 0.9 });
const learningRate = numberFlag("learning-rate", args["learning-rate"], 0.005, { min: 0 });
const dir = join("examples", "spam-finetune");
const seed = 0;

await startBackend("wasm");
const base = spamTextTask();
const text = base.input.text!;
const { train, holdout } = await loadSpamSplit({ text });
const order = shuffle([...train.labels.keys()], seededRandom(seed));
const cut = Math.round(pretrainFraction * order.length);
const pretrainRows = order.slice(0, cut);
const federatedRows = order.slice(cut);

/** Accuracy of `model` on rows of token ids. */
function accuracy(model: tf.LayersModel, data: Dataset): number {
  return tf.tidy(() => {
    const x = tf.tensor2d(data.x, [data.labels.length, text.maxLength]);
    const predicted = (model.predict(x) as tf.Tensor).argMax(1);
    const hits = tf.equal(predicted, tf.tensor1d(data.labels, "int32")).sum().dataSync()[0]!;
    return hits / data.labels.length;
  });
}

/** Plain cross-entropy with Adam, batches of 32, on every labeled row of `data`. */
async function pretrain(data: Dataset, steps: number): Promise<tf.LayersModel> {
  const model = await buildModel(base.model.topology, { seed });
  const optimizer = tf.train.adam(0.005);
  const x = tf.tensor2d(data.x, [data.labels.length, text.maxLength]);
  const y = tf.oneHot(tf.tensor1d(data.labels, "int32"), 2);
  const random = seededRandom(seed + 1);
  let batches: number[] = [];
  for (let step = 1; step <= steps; step++) {
    if (batches.length < 32) batches = shuffle([...data.labels.keys()], random);
    const index = batches.splice(0, 32);
    const loss = tf.tidy(() => {
      const rows = tf.tensor1d(index, "int32");
      return optimizer.minimize(() => {
        const logits = model.apply(tf.gather(x, rows), { training: true }) as tf.Tensor;
        return tf.losses.softmaxCrossEntropy(tf.gather(y, rows), logits) as tf.Scalar;
      }, true)!;
    });
    if (step % 50 === 0 || step === steps) {
      console.log(`pretraining step ${step}/${steps}: loss ${loss.dataSync()[0]!.toFixed(4)}`);
    }
    loss.dispose();
  }
  tf.dispose([x, y]);
  optimizer.dispose();
  return model;
}

// Pretrained once; every setting then starts from the same model.
if (await Deno.stat(join(dir, "pretrained", "model.json")).catch(() => null)) {
  console.log(
    `using the pretrained model in ${join(dir, "pretrained")} (delete it to pretrain again)`,
  );
} else {
  const started = performance.now();
  const pretrained = await pretrain(selectRows(train, pretrainRows), 150);
  console.log(
    `pretrained on ${pretrainRows.length} labeled e-mails in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s: holdout accuracy ${(100 * accuracy(pretrained, holdout)).toFixed(2)}%`,
  );
  await writeCheckpoint(join(dir, "pretrained"), {
    artifacts: toTfjsArtifacts(base.model.topology, readWeights(pretrained)),
  });
  pretrained.dispose();
}

const setting = rank !== undefined
  ? { lora: { rank, targets: ["dense1"], modulesToSave: ["logits"] } }
  : args["frozen-embedding"]
  ? { frozen: ["embedding"] }
  : {};
const task = await resolveTaskFile({
  id: "spam-finetune",
  model: { pretrained: "./pretrained", ...setting },
  input: base.input,
  training: {
    alpha: 1,
    labeledBatchSize: 16,
    unlabeledBatchSize: 48,
    localSteps: 20,
    learningRate,
  },
  rounds: { total: rounds, targetClients: clients, minClients: 1, timeoutSeconds: 600 },
  aggregation: { unlabeledWeight: 0.5 },
}, { baseDir: dir, source: join(dir, "(inline task)") });

const shards = partition(train.labels, federatedRows, { clients, labeledFraction, seed });
const described = rank !== undefined
  ? `LoRA rank ${rank} (ffa) on dense1, logits in full`
  : args["frozen-embedding"]
  ? "the embedding frozen"
  : "nothing frozen";
console.log(
  `fine-tuning with ${described}: ${clients} clients, ${federatedRows.length} e-mails, ` +
    `${labeledFraction * 100}% of them labeled, ${rounds} rounds`,
);
const runDir = join("runs", `finetune-text-${new Date().toISOString().replace(/[:.]/g, "-")}`);
const coordinator = await startCoordinator({
  tasks: [{ ...task, holdout }],
  runDir,
  onRound: (_id, m) =>
    console.log(
      `round ${m.round}: ${m.clients} clients, ${m.numLabeled} labeled + ${m.numUnlabeled} unlabeled, ` +
        `holdout accuracy ${(100 * m.accuracy!).toFixed(2)}%, ` +
        (m.clients ? `${Math.round(m.bytesReceived / m.clients)} bytes per update, ` : "") +
        `${m.seconds.toFixed(1)} s`,
    ),
});
const enrolmentToken = coordinator.auth.createEnrolmentToken();
const workers = shards.map((part, i) =>
  spawnClientWorker({
    coordinator: coordinator.url,
    dataset: selectRows(train, part.rows, { hideLabels: part.unlabeledRows }),
    clientId: `client-${i + 1}`,
    enrolmentToken,
    seed: i,
  })
);
await Promise.all([coordinator.federation.finished, ...workers.map((w) => w.done)]);
const status = coordinator.federation.status();
await coordinator.shutdown();
const first = status.history[0]!;
const last = status.history.at(-1)!;
const sent = status.history.find((h) => h.clients > 0)!;
console.log(
  `fine-tuned: holdout accuracy ${(100 * first.accuracy!).toFixed(2)}% -> ${
    (100 * last.accuracy!).toFixed(2)
  }%; an update is ${
    Math.round(sent.bytesReceived / sent.clients)
  } bytes with ${described}; final model ${status.finalModel}`,
);
