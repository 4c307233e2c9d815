/**
 * Evaluation of a model on a labeled holdout set.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type Dataset, labelSize, rowLabeled } from "../data/dataset.ts";
import { TokenEmbedding } from "../transformer/token_embedding.ts";

/** Holdout metrics. */
export interface Evaluation {
  /** Fraction of rows (for sequences: labeled positions) whose arg-max class is the label. */
  accuracy: number;
  /** Mean softmax cross-entropy, per row (for sequences: per labeled position). */
  loss: number;
  /** Sequences only: `exp(loss)`, the perplexity over labeled positions. */
  perplexity?: number;
}

/**
 * A holdout set kept on the backend, evaluated in batches with dropout off.
 *
 * @example
 * ```ts
 * import { Evaluator } from "./evaluate.ts";
 * import { buildModel } from "./model.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const data = { x: new Float32Array(2 * 784), labels: Int32Array.from([1, 2]), featureShape: [784], numClasses: 10 };
 * const evaluator = new Evaluator(data);
 * const { accuracy } = evaluator.evaluate(await buildModel(mnistMlpTopology()));
 * assert.ok(accuracy >= 0 && accuracy <= 1);
 * ```
 */
export class Evaluator {
  #x: tf.Tensor;
  #labels: tf.Tensor;
  /** Rows a batch, or null to size batches by the model's output. */
  #batchSize: number | null;
  /** Label positions a row. */
  #positions: number;
  #sequences: boolean;
  /** The labels, also on the CPU: where a tied output runs (the labeled positions). */
  #labelValues: Int32Array;

  /**
   * Copies the labeled rows of `holdout` to the backend (for sequences, the
   * rows with a label at any position; only labeled positions count); with
   * `maxRows`, at most that many of them, evenly spaced (a client's
   * federated evaluation measures a sample, not its whole data).
   */
  constructor(holdout: Dataset, options: { batchSize?: number; maxRows?: number } = {}) {
    const size = labelSize(holdout);
    const total = holdout.labels.length / size;
    const labeled = Array.from({ length: total }, (_, i) => i).filter((i) =>
      rowLabeled(holdout, i)
    );
    if (labeled.length === 0) {
      throw new RangeError("Cannot evaluate: the holdout set has no labeled row");
    }
    const keep = Math.min(labeled.length, options.maxRows ?? Infinity);
    const rows = keep === labeled.length
      ? labeled
      : Array.from({ length: keep }, (_, i) => labeled[Math.floor((i * labeled.length) / keep)]!);
    const width = holdout.x.length / total;
    const x = new Float32Array(rows.length * width);
    const labels = new Int32Array(rows.length * size);
    rows.forEach((row, i) => {
      x.set(holdout.x.subarray(row * width, (row + 1) * width), i * width);
      labels.set(holdout.labels.subarray(row * size, (row + 1) * size), i * size);
    });
    this.#x = tf.tensor(x, [rows.length, ...holdout.featureShape]);
    this.#labels = tf.tensor(labels, [rows.length, ...(holdout.labelShape ?? [])], "int32");
    this.#labelValues = labels;
    this.#sequences = (holdout.labelShape ?? []).length > 0;
    this.#positions = size;
    this.#batchSize = options.batchSize ?? (this.#sequences ? null : 1000);
  }

  /** How many labeled rows it measures on. */
  get rows(): number {
    return this.#labels.shape[0]!;
  }

  /** Accuracy and loss of `model` on the holdout set. */
  evaluate(model: tf.LayersModel): Evaluation {
    const sums = this.#sums(model);
    const values = sums.dataSync();
    sums.dispose();
    return this.#measures(values);
  }

  /**
   * {@linkcode Evaluator.evaluate}, read from the backend asynchronously (the
   * way that works on WebGPU in a browser worker).
   */
  async evaluateAsync(model: tf.LayersModel): Promise<Evaluation> {
    const sums = this.#sums(model);
    const values = await sums.data();
    sums.dispose();
    return this.#measures(values);
  }

  /** [correct predictions, summed cross-entropy, labels counted] over every row, on the backend. */
  #sums(model: tf.LayersModel): tf.Tensor1D {
    const n = this.rows;
    // One tidy a batch: a batch's logits are freed before the next is made.
    const parts: tf.Tensor1D[] = [];
    // Sequences: batches whose per-position logits stay near 4M values, by
    // the classes the model outputs (a vocabulary may be large).
    const classes = Number(model.outputs[0]?.shape.at(-1) ?? 1);
    // A tied output over the vocabulary (a masked language model's) runs at
    // the labeled positions only: the masked ones, a few of a row's.
    const output = this.#sequences ? model.outputLayers.at(-1) : undefined;
    const tied = output instanceof TokenEmbedding ? output : null;
    const batch = this.#batchSize ??
      Math.min(
        1000,
        Math.max(8, Math.floor(4_194_304 / ((tied ? 1 : this.#positions) * classes))),
      );
    for (let start = 0; start < n; start += batch) {
      parts.push(tf.tidy(() => {
        const size = Math.min(batch, n - start);
        const x = this.#x.slice(start, size);
        let labels = this.#labels.slice(start, size);
        let logits: tf.Tensor;
        if (tied) {
          const values = this.#labelValues.subarray(
            start * this.#positions,
            (start + size) * this.#positions,
          );
          const at: number[] = [];
          values.forEach((label, i) => label >= 0 && at.push(i));
          if (at.length === 0) return tf.zeros([3]) as tf.Tensor1D;
          const positions = tf.tensor1d(at, "int32");
          labels = tf.gather(labels.reshape([-1]), positions);
          // One batch: predict's own batches of 32 would each see every position.
          logits = tied.outputAt(
            positions,
            () => model.predict(x, { batchSize: size }) as tf.Tensor,
          );
        } else logits = model.predict(x) as tf.Tensor;
        const classes = logits.shape[logits.rank - 1]!;
        const counted = tf.cast(tf.greaterEqual(labels, 0), "float32");
        const hits = tf.sum(
          tf.mul(tf.cast(tf.equal(tf.argMax(logits, -1), labels), "float32"), counted),
        );
        const picked = tf.sum(
          tf.mul(
            tf.sum(
              tf.mul(
                tf.oneHot(tf.cast(tf.maximum(labels, 0), "int32"), classes),
                tf.logSoftmax(logits),
              ),
              -1,
            ),
            counted,
          ),
        );
        return tf.stack([hits, tf.neg(picked), tf.sum(counted)]) as tf.Tensor1D;
      }));
    }
    if (parts.length === 1) return parts[0]!;
    const total = tf.addN(parts) as tf.Tensor1D;
    tf.dispose(parts);
    return total;
  }

  #measures(values: ArrayLike<number>): Evaluation {
    const n = Math.max(values[2]!, 1);
    const loss = values[1]! / n;
    return {
      accuracy: values[0]! / n,
      loss,
      ...(this.#sequences ? { perplexity: Math.exp(loss) } : {}),
    };
  }

  /** Frees the holdout on the backend. */
  dispose(): void {
    tf.dispose([this.#x, this.#labels]);
  }
}
