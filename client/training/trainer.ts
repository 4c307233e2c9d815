/**
 * Local R-Drop training of a model on one client's rows.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type Dataset, featureSize, labelSize, rowLabeled } from "../../shared/data/dataset.ts";
import { fnv1a, type Random, seededRandom, shuffle, withMathRandom } from "../../shared/random.ts";
import { rdropLoss } from "../../shared/rdrop_loss.ts";
import { adamOptimizer, fusedAdamCalls } from "./_fused_adam.ts";
import { dropoutMasksDrawn, useWasmDropout } from "./_fused_dropout.ts";
import { useWasmLayers } from "./_fused_layers.ts";
import { wasmRdropLoss } from "./_fused_rdrop_loss.ts";
import type { TrainingConfig } from "../../shared/schemas/mod.ts";
import { maskTokens, type MaskTokensOptions } from "../../shared/tokenizer/masking.ts";
import { TokenEmbedding } from "../../shared/transformer/token_embedding.ts";

/** Cross-entropy of one pass over the labeled rows (labels -1 add nothing); kl is 0. */
function crossEntropyLoss(
  logits: tf.Tensor,
  labels: tf.Tensor,
): { loss: tf.Scalar; ce: tf.Scalar; kl: tf.Scalar } {
  const labeled = tf.cast(tf.greaterEqual(labels, 0), "float32");
  const oneHot = tf.oneHot(
    tf.cast(tf.maximum(labels, 0), "int32"),
    logits.shape[logits.rank - 1] ?? 0,
  );
  const rows = tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), -1));
  const ce = tf.div(tf.sum(tf.mul(rows, labeled)), tf.maximum(tf.sum(labeled), 1)) as tf.Scalar;
  return { loss: ce, ce, kl: tf.scalar(0) };
}

/** Progress of one local step. */
export interface StepProgress {
  /** Steps done so far, from 1. */
  step: number;
  /** Steps in all. */
  totalSteps: number;
  /** This step's total loss, cross-entropy and KL. */
  loss: number;
  ce: number;
  kl: number;
}

/** Options of {@linkcode LocalTrainer.train}. */
export interface TrainOptions {
  /** The round being trained, for the alpha ramp-up. @default 1 */
  round?: number;
  /** Called after every step. */
  onStep?: (progress: StepProgress) => void;
  /** Milliseconds to wait after every step (emulates a slower device). @default 0 */
  stepDelayMs?: number;
}

/** Means over the steps of one local training run. */
export interface TrainResult {
  loss: number;
  ce: number;
  kl: number;
  steps: number;
  seconds: number;
  /**
   * Calls of the fused WebAssembly SIMD kernels in this training: Adam
   * updates (one per weight and step) and dropout masks (one per dropout
   * layer and step); 0 where tfjs's own ops ran (another backend, or
   * `wasmKernels` false).
   */
  fusedKernels: { adam: number; dropout: number };
}

/** Options of {@linkcode LocalTrainer}. */
export interface LocalTrainerOptions {
  /**
   * Seed of batch sampling, and of the dropout masks when given: a run with
   * one seed (and client id) reproduces its masks. @default batches from seed
   * 0, masks from fresh entropy
   */
  seed?: number;
  /**
   * The client's id, mixed into the dropout seed so that clients sharing a
   * seed draw masks of their own. @default none
   */
  clientId?: string;
  /**
   * Adam, dropout, and a transformer's layer norm, GELU, attention and R-Drop
   * loss as fused kernels on the wasm backend. @default true
   */
  wasmKernels?: boolean;
  /**
   * Masked-token prediction: each step masks its batch afresh
   * (`shared/tokenizer/masking.ts`; once, before `[x; x]`, so both twins
   * see the same masked input) and predicts the chosen tokens; every row
   * trains, labeled or not. With a tied output (the token embedding as the
   * model's last layer) the output runs at the masked positions only, and
   * both R-Drop terms are over them, unless `fullOutput` (the cross-entropy
   * is the same either way; the KL then also covers the unmasked positions).
   * @default none
   */
  maskedTokens?: { vocabSize: number; rate?: number; fullOutput?: boolean };
}

/**
 * The seed of a trainer's dropout stream: its batch seed scrambled, and mixed
 * with the FNV-1a hash of the client's id where one is given, so that clients
 * started with one seed draw different masks.
 */
function dropoutSeed(seed: number, clientId: string | undefined): number {
  let mixed = Math.imul(seed, 0x9e3779b1) ^ 0x5bd1e995;
  if (clientId === undefined) return mixed;
  mixed = Math.imul(mixed ^ fnv1a(clientId), 0x85ebca6b);
  return (mixed ^ (mixed >>> 13)) >>> 0;
}

class BatchSampler {
  #rows: number[];
  #next = 0;
  #random: Random;
  constructor(rows: number[], random: Random) {
    this.#rows = shuffle(rows, random);
    this.#random = random;
  }
  get size(): number {
    return this.#rows.length;
  }
  take(count: number): number[] {
    const out: number[] = [];
    const n = Math.min(count, this.#rows.length);
    while (out.length < n) {
      if (this.#next >= this.#rows.length) {
        shuffle(this.#rows, this.#random);
        this.#next = 0;
      }
      out.push(this.#rows[this.#next++]!);
    }
    return out;
  }
}

/**
 * Trains a model on a client's dataset with R-Drop. The rows stay on the
 * backend between steps; each step gathers a batch of labeled and unlabeled
 * rows, runs ONE forward pass over `[x; x]` with dropout on (each row draws its
 * own mask, so the halves are two sub-models) and minimises
 * `ce + alpha * kl` (plus FedProx's `(mu / 2) ||w - w_global||^2` when the
 * task sets `proximalMu`).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { LocalTrainer } from "./trainer.ts";
 * import { buildModel } from "../../shared/model/model.ts";
 * import { mnistMlpTask } from "../../shared/tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const task = mnistMlpTask({ training: { localSteps: 2 } });
 * const model = await buildModel(task.model.topology);
 * const data = { x: new Float32Array(4 * 784), labels: Int32Array.from([1, -1, 2, -1]), featureShape: [784], numClasses: 10 };
 * const trainer = new LocalTrainer(model, data, { seed: 1 });
 * const result = await trainer.train(task.training);
 * assert.ok(Number.isFinite(result.loss));
 * trainer.dispose();
 * ```
 */
export class LocalTrainer {
  #model: tf.LayersModel;
  #x: tf.Tensor;
  #labels: tf.Tensor;
  #labeled: BatchSampler;
  #unlabeled: BatchSampler;
  #dropoutRandom: Random | null;
  #wasmKernels: boolean;
  /** Rows are sequences: a label per position, padding (id 0) masked. */
  #sequences = false;
  /** Add-one smoothed frequencies of the labeled rows' classes; null without labels. */
  #prior: tf.Tensor1D | null = null;
  /** Masked-token prediction: the rows' ids, the masking and its draws. */
  #masking: { ids: Float32Array; width: number; options: MaskTokensOptions } | null = null;
  /** A tied output layer (the model's last), which can run at the masked positions only. */
  #tiedOutput: TokenEmbedding | null = null;

  /**
   * Puts the rows on the backend once. With a `seed`, the batches and the
   * dropout masks are reproducible (the masks from the seed mixed with
   * `clientId` where one is given, so clients that share a seed still draw
   * masks of their own); without one, batches use seed 0 and the masks come
   * from fresh entropy. On the wasm backend, Adam and the dropout masks run as
   * fused WebAssembly kernels (the same float32 values as tfjs's ops, bit for
   * bit), and so do a transformer's layer norm, GELU, attention and the
   * R-Drop loss (the same values within float32 rounding, the same dropout
   * masks), unless `wasmKernels` is false.
   */
  constructor(model: tf.LayersModel, dataset: Dataset, options: LocalTrainerOptions = {}) {
    const labelShape = dataset.labelShape ?? [];
    const rows = dataset.labels.length / labelSize(dataset);
    if (rows === 0) throw new RangeError("Cannot train: the dataset has no rows");
    if (!Number.isInteger(rows)) {
      throw new RangeError(
        `Cannot train: ${dataset.labels.length} labels are not rows of shape [${labelShape}]`,
      );
    }
    // Masked tokens: rows of token ids, whatever their labels (the masking makes new ones).
    this.#sequences = labelShape.length > 0 || options.maskedTokens !== undefined;
    this.#model = model;
    this.#wasmKernels = options.wasmKernels ?? true;
    if (this.#wasmKernels) {
      useWasmDropout(model);
      useWasmLayers(model);
    }
    this.#x = tf.tensor(dataset.x, [rows, ...dataset.featureShape], "float32");
    if (featureSize(dataset) * rows !== dataset.x.length) {
      throw new RangeError(`Cannot train: ${dataset.x.length} feature values for ${rows} rows`);
    }
    this.#labels = tf.tensor(dataset.labels, [rows, ...labelShape], "int32");
    const random = seededRandom(options.seed ?? 0);
    this.#dropoutRandom = options.seed === undefined
      ? null
      : seededRandom(dropoutSeed(options.seed, options.clientId));
    const labeled: number[] = [];
    const unlabeled: number[] = [];
    if (options.maskedTokens) {
      if (dataset.featureShape.length !== 1) {
        throw new RangeError(
          `Cannot train masked tokens: rows must be token ids, shape [T], not [${dataset.featureShape}]`,
        );
      }
      this.#masking = {
        ids: dataset.x,
        width: featureSize(dataset),
        options: { ...options.maskedTokens, random: seededRandom((options.seed ?? 0) ^ 0x5eed) },
      };
      const last = model.outputLayers.at(-1);
      if (last instanceof TokenEmbedding && !options.maskedTokens.fullOutput) {
        this.#tiedOutput = last;
      }
    }
    for (let row = 0; row < rows; row++) {
      // Masked tokens: every row gets labels (its masked positions).
      (this.#masking || rowLabeled(dataset, row) ? labeled : unlabeled).push(row);
    }
    this.#labeled = new BatchSampler(labeled, random);
    // Distribution alignment is over rows' classes: not for sequences.
    if (labeled.length > 0 && dataset.numClasses > 0 && !this.#sequences) {
      const counts = new Float32Array(dataset.numClasses).fill(1);
      for (const i of labeled) counts[dataset.labels[i]!]! += 1;
      const total = counts.reduce((a, b) => a + b, 0);
      this.#prior = tf.tensor1d(counts.map((c) => c / total));
    }
    this.#unlabeled = new BatchSampler(unlabeled, random);
  }

  /**
   * The rows' features and labels on the backend (masked afresh for masked
   * tokens, with the flat positions of the masked tokens).
   */
  #batch(rows: number[]): { x: tf.Tensor; labels: tf.Tensor; masked?: number[] } {
    if (!this.#masking) {
      const index = tf.tensor1d(rows, "int32");
      return { x: tf.gather(this.#x, index), labels: tf.gather(this.#labels, index) };
    }
    const { ids, width, options } = this.#masking;
    const picked = new Float32Array(rows.length * width);
    rows.forEach((row, i) => picked.set(ids.subarray(row * width, (row + 1) * width), i * width));
    const { input, labels } = maskTokens(picked, options);
    const masked: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i]! >= 0) masked.push(i);
    return {
      x: tf.tensor(input, [rows.length, ...this.#x.shape.slice(1)]),
      labels: tf.tensor(labels, [rows.length, width], "int32"),
      masked,
    };
  }

  /** Runs `config.localSteps` R-Drop steps on the model's current weights. */
  async train(config: TrainingConfig, options: TrainOptions = {}): Promise<TrainResult> {
    const { round = 1, onStep, stepDelayMs = 0 } = options;
    const ramp = config.alphaRampUpRounds > 0 ? Math.min(1, round / config.alphaRampUpRounds) : 1;
    const optimizer = config.optimizer === "adam"
      ? (this.#wasmKernels
        ? adamOptimizer(config.learningRate)
        : tf.train.adam(config.learningRate))
      : tf.train.sgd(config.learningRate);
    const variables = this.#model.trainableWeights.map((w) => w.read() as tf.Variable);
    // FedProx: the weights the round started from, for the proximal term.
    const mu = config.proximalMu ?? 0;
    const anchors = mu > 0 ? variables.map((v) => tf.keep(tf.clone(v))) : [];
    const totals = { loss: 0, ce: 0, kl: 0 };
    const start = performance.now();
    const masksBefore = dropoutMasksDrawn(this.#model);
    let pending: Promise<[number, number, number]> | null = null;
    const report = async (values: Promise<[number, number, number]>, step: number) => {
      const [loss, ce, kl] = await values;
      if (![loss, ce, kl].every(Number.isFinite)) {
        optimizer.dispose();
        tf.dispose(anchors);
        throw new RangeError(`Cannot train: loss became "${loss}" at step ${step}`);
      }
      totals.loss += loss;
      totals.ce += ce;
      totals.kl += kl;
      onStep?.({ step, totalSteps: config.localSteps, loss, ce, kl });
    };
    for (let step = 1; step <= config.localSteps; step++) {
      const rows = [
        ...this.#labeled.take(config.labeledBatchSize),
        ...this.#unlabeled.take(config.unlabeledBatchSize),
      ];
      if (rows.length === 0) {
        throw new RangeError("Cannot train: batch sizes select no row of this dataset");
      }
      const [loss, ce, kl] = withMathRandom(this.#dropoutRandom, () =>
        tf.tidy(() => {
          const batch = this.#batch(rows);
          const { x } = batch;
          let { labels } = batch;
          const rdrop = config.objective === "rdrop";
          const input = rdrop ? tf.concat([x, x], 0) : x;
          // Masked tokens with a tied output: the output runs at the masked
          // positions only (both twins'), and both terms are over them.
          const output = this.#tiedOutput && batch.masked?.length ? this.#tiedOutput : null;
          let positions: tf.Tensor1D | null = null;
          if (output) {
            const masked = batch.masked!;
            const twin = x.size;
            positions = tf.tensor1d(
              rdrop ? [...masked, ...masked.map((p) => p + twin)] : masked,
              "int32",
            );
            labels = tf.gather(labels.reshape([-1]), tf.tensor1d(masked, "int32"));
          }
          let parts: { ce: tf.Scalar; kl: tf.Scalar } | undefined;
          const minimize = () =>
            optimizer.minimize(
              () => {
                const logits = this.#model.apply(input, { training: true }) as tf.Tensor;
                const lossOptions = {
                  labels,
                  // A sequence's padding (token id 0) counts for neither term.
                  mask: this.#sequences && !output
                    ? tf.cast(tf.notEqual(x, 0), "float32")
                    : undefined,
                  alpha: config.alpha,
                  unlabeledAlpha: (config.unlabeledAlpha ?? config.alpha) * ramp,
                  prior: this.#prior ?? undefined,
                  priorWeight: config.priorAlignment ?? 0,
                };
                const result = rdrop
                  ? (this.#wasmKernels ? wasmRdropLoss(logits, lossOptions) : null) ??
                    rdropLoss(logits, lossOptions)
                  : crossEntropyLoss(logits, labels);
                parts = { ce: tf.keep(result.ce), kl: tf.keep(result.kl) };
                if (anchors.length === 0) return result.loss;
                const drift = tf.addN(
                  variables.map((v, i) => tf.sum(tf.squaredDifference(v, anchors[i]!))),
                );
                return tf.add(result.loss, tf.mul(mu / 2, drift)) as tf.Scalar;
              },
              true,
              variables,
            );
          const total = output ? output.outputAt(positions!, minimize) : minimize();
          return [total!, parts!.ce, parts!.kl];
        }));
      // Read asynchronously (WebGPU in a browser worker has no synchronous
      // read), one step behind: the device runs step k + 1 while step k's
      // three scalars come back, so the loop never waits on the device.
      const reading = Promise.all([loss.data(), ce.data(), kl.data()]).then((v) => {
        tf.dispose([loss, ce, kl]);
        return v.map((x) => x[0]!) as [number, number, number];
      });
      if (pending) await report(pending, step - 1);
      pending = reading;
      if (stepDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, stepDelayMs));
      else if (step % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    if (pending) await report(pending, config.localSteps);
    optimizer.dispose();
    tf.dispose(anchors);
    const steps = config.localSteps;
    return {
      fusedKernels: {
        adam: fusedAdamCalls(optimizer),
        dropout: dropoutMasksDrawn(this.#model) - masksBefore,
      },
      loss: totals.loss / steps,
      ce: totals.ce / steps,
      kl: totals.kl / steps,
      steps,
      seconds: (performance.now() - start) / 1000,
    };
  }

  /** Frees the rows on the backend. */
  dispose(): void {
    tf.dispose([this.#x, this.#labels]);
    this.#prior?.dispose();
  }
}
