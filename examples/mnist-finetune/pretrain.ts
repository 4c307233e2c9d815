/**
 * The worked example's first step: trains the built-in `mnist-cnn` centrally
 * on the MNIST digits 0 to 4 and exports it in tfjs format, then writes the
 * data the federated fine-tuning uses: a holdout of digits 5 to 9 and client
 * shards of digits 5 to 9, mostly unlabeled.
 *
 * `deno task pretrain [--steps 300] [--clients 4] [--labeled 0.05] [--out DIR]`
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { startBackend } from "../../client/training/backend.ts";
import { betaFlag, numberFlag, parseFlags } from "../../shared/cli.ts";
import { writeCheckpoint } from "../../coordinator/storage/checkpoint.ts";
import { type Dataset, selectRows } from "../../shared/data/dataset.ts";
import { loadMnistSplit } from "../../shared/data/mnist.ts";
import { buildModel, readWeights } from "../../shared/model/model.ts";
import { partition } from "../../shared/data/partition.ts";
import { seededRandom, shuffle } from "../../shared/random.ts";
import { toTfjsArtifacts } from "../../shared/model/tfjs_format.ts";
import { mnistCnnTopology } from "../../shared/tasks/mnist_cnn.ts";

const HELP = `Usage: deno task pretrain [options]

Trains mnist-cnn on digits 0-4 and writes, under --out:
  pretrained/       the model in tfjs format (model.json, weights.bin)
  data/holdout.jsonl        labeled digits 5-9 to evaluate on
  data/client-N.jsonl       client shards of digits 5-9, mostly unlabeled

Options:
  --steps N       training steps, batch 64 (default 300)
  --clients N     client shards (default 4)
  --labeled F     labeled fraction of each shard (default 0.05)
  --beta B|iid    label skew of the shards (default iid)
  --seed N        seed (default 0)
  --out DIR       (default examples/mnist-finetune)`;

/** Rows of `data` whose label is in [low, high]. */
export function digits(data: Dataset, low: number, high: number): number[] {
  return [...data.labels.keys()].filter((i) => data.labels[i]! >= low && data.labels[i]! <= high);
}

function toJsonl(data: Dataset): string {
  const lines: string[] = [];
  for (let i = 0; i < data.labels.length; i++) {
    const x = Array.from(
      data.x.subarray(i * 784, (i + 1) * 784),
      (v) => Math.round(v * 1000) / 1000,
    );
    const label = data.labels[i]!;
    lines.push(JSON.stringify(label >= 0 ? { x, label } : { x }));
  }
  return lines.join("\n") + "\n";
}

/** Accuracy of `model` on 28x28 digits. */
export function accuracy(model: tf.LayersModel, data: Dataset): number {
  return tf.tidy(() => {
    const x = tf.tensor4d(data.x, [data.labels.length, 28, 28, 1]);
    const predicted = (model.predict(x) as tf.Tensor).argMax(1);
    const hits = tf.equal(predicted, tf.tensor1d(data.labels, "int32")).sum().dataSync()[0]!;
    return hits / data.labels.length;
  });
}

/** Options of {@linkcode pretrainCnn}. */
export interface PretrainOptions {
  /** Training steps of batch 64. @default 300 */
  steps?: number;
  /** Seed of the weights and batches. @default 0 */
  seed?: number;
  /** Called every 50 steps with the step and the loss. */
  onProgress?: (step: number, loss: number) => void;
}

/**
 * Trains mnist-cnn centrally on `data` (plain cross-entropy, Adam) and
 * returns the model.
 */
export async function pretrainCnn(
  data: Dataset,
  options: PretrainOptions = {},
): Promise<tf.LayersModel> {
  const { steps = 300, seed = 0, onProgress } = options;
  const model = await buildModel(mnistCnnTopology(), { seed });
  const optimizer = tf.train.adam(0.002);
  const x = tf.tensor4d(data.x, [data.labels.length, 28, 28, 1]);
  const y = tf.oneHot(tf.tensor1d(data.labels, "int32"), 10);
  const random = seededRandom(seed);
  let order: number[] = [];
  for (let step = 1; step <= steps; step++) {
    if (order.length < 64) order = shuffle([...data.labels.keys()], random);
    const batch = order.splice(0, 64);
    const loss = tf.tidy(() => {
      const index = tf.tensor1d(batch, "int32");
      return optimizer.minimize(() => {
        const logits = model.apply(tf.gather(x, index), { training: true }) as tf.Tensor;
        return tf.losses.softmaxCrossEntropy(tf.gather(y, index), logits) as tf.Scalar;
      }, true)!;
    });
    if (step % 50 === 0 || step === steps) onProgress?.(step, loss.dataSync()[0]!);
    loss.dispose();
  }
  tf.dispose([x, y]);
  optimizer.dispose();
  return model;
}

async function main(): Promise<void> {
  const args = parseFlags(Deno.args, ["steps", "clients", "labeled", "beta", "seed", "out"], HELP);
  const steps = numberFlag("steps", args.steps, 300, { min: 1, integer: true });
  const clients = numberFlag("clients", args.clients, 4, { min: 1, integer: true });
  const labeledFraction = numberFlag("labeled", args.labeled, 0.05, { min: 0, max: 1 });
  const beta = betaFlag("beta", args.beta, "iid");
  const seed = numberFlag("seed", args.seed, 0, { integer: true });
  const out = args.out ?? join("examples", "mnist-finetune");
  await startBackend("wasm");
  const { train, holdout } = await loadMnistSplit({ seed });
  const started = performance.now();
  const model = await pretrainCnn(selectRows(train, digits(train, 0, 4)), {
    steps,
    seed,
    onProgress: (step, loss) => console.log(`step ${step}/${steps}: loss ${loss.toFixed(4)}`),
  });
  const oldHoldout = selectRows(holdout, digits(holdout, 0, 4));
  const newHoldout = selectRows(holdout, digits(holdout, 5, 9));
  console.log(
    `pretrained in ${((performance.now() - started) / 1000).toFixed(1)} s: accuracy on digits 0-4 ${
      (100 * accuracy(model, oldHoldout)).toFixed(2)
    }%, on digits 5-9 ${(100 * accuracy(model, newHoldout)).toFixed(2)}%`,
  );
  const modelJson = await writeCheckpoint(join(out, "pretrained"), {
    artifacts: toTfjsArtifacts(mnistCnnTopology(), readWeights(model)),
  });
  model.dispose();

  // The federated part's data: digits 5-9 only.
  await Deno.mkdir(join(out, "data"), { recursive: true });
  await Deno.writeTextFile(join(out, "data", "holdout.jsonl"), toJsonl(newHoldout));
  const fresh = digits(train, 5, 9);
  const parts = partition(train.labels, fresh, { clients, beta, labeledFraction, seed });
  for (const [i, part] of parts.entries()) {
    const shard = selectRows(train, part.rows, { hideLabels: part.unlabeledRows });
    await Deno.writeTextFile(join(out, "data", `client-${i + 1}.jsonl`), toJsonl(shard));
  }
  console.log(
    `wrote ${modelJson}, ${
      join(out, "data", "holdout.jsonl")
    } (${newHoldout.labels.length} digits 5-9) ` +
      `and ${clients} client shards of ${fresh.length} digits 5-9 (${
        labeledFraction * 100
      }% labeled)`,
  );
}

if (import.meta.main) await main();
