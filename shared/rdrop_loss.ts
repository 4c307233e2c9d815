/**
 * The R-Drop objective over the output of one forward pass of `[x; x]`.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Options of {@linkcode rdropLoss}. */
export interface RDropLossOptions {
  /**
   * Class index of each of the first n rows (shape `[n]`, or `[n, T]` for
   * sequence outputs); `-1` marks an unlabeled row, which adds to the KL only.
   */
  labels: tf.Tensor;
  /** Weight of the symmetric KL on labeled rows. */
  alpha: number;
  /** Weight of the symmetric KL on unlabeled rows (for a ramp-up). @default alpha */
  unlabeledAlpha?: number;
  /** 1 where a position counts, 0 for padding; shape of `labels`. @default all count */
  mask?: tf.Tensor;
  /**
   * Distribution alignment: class frequencies (shape `[classes]`, sums to 1)
   * that the mean prediction over the unlabeled rows should match. Adds
   * `priorWeight * KL(prior || mean p)` so the consistency term cannot pull
   * unlabeled rows towards the majority class. @default none
   */
  prior?: tf.Tensor1D;
  /** Weight of the distribution-alignment term. @default 0 */
  priorWeight?: number;
}

/** The parts of an R-Drop loss, as scalars. */
export interface RDropLoss {
  /** `ce + alpha * kl` with each row's alpha. */
  loss: tf.Scalar;
  /** Cross-entropy averaged over the two twins and the labeled positions. */
  ce: tf.Scalar;
  /** Symmetric KL between the twins, summed over classes, averaged over positions. */
  kl: tf.Scalar;
  /** KL(prior || mean prediction on unlabeled rows); 0 without a prior or unlabeled rows. */
  alignment: tf.Scalar;
}

function splitTwins(output: tf.Tensor, n: number): [tf.Tensor, tf.Tensor] {
  if (output.shape[0] !== 2 * n) {
    throw new RangeError(
      `Cannot compute R-Drop loss: output has ${output.shape[0]} rows, expected 2 * ${n}`,
    );
  }
  const [first, second] = tf.split(output, 2, 0);
  return [first as tf.Tensor, second as tf.Tensor];
}

function maskedMean(values: tf.Tensor, weights: tf.Tensor): tf.Scalar {
  return tf.div(tf.sum(tf.mul(values, weights)), tf.maximum(tf.sum(weights), 1)) as tf.Scalar;
}

/**
 * R-Drop for classification. `logits` holds the outputs of one forward pass
 * over `[x; x]` with dropout on: rows `0..n-1` are the first twin, rows
 * `n..2n-1` the second. Returns
 * `ce = 0.5 * (ce(logits1, y) + ce(logits2, y))` over labeled positions,
 * `kl = 0.5 * (KL(p1||p2) + KL(p2||p1))` summed over classes and averaged over
 * all (unmasked) positions, and `loss = ce + alpha * kl`. Log-softmax keeps it
 * finite on extreme logits. Call it inside `tf.tidy` or an optimizer's
 * `minimize`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { rdropLoss } from "./rdrop_loss.ts";
 * import assert from "node:assert/strict";
 * const logits = tf.tensor2d([[2, 0], [0, 0], [2, 0], [0, 0]]); // twins agree
 * const { kl, ce } = rdropLoss(logits, { labels: tf.tensor1d([0, -1], "int32"), alpha: 1 });
 * assert.ok(Math.abs(kl.dataSync()[0]!) < 1e-7);
 * assert.ok(Math.abs(ce.dataSync()[0]! - Math.log(1 + Math.exp(-2))) < 1e-6);
 * ```
 */
export function rdropLoss(logits: tf.Tensor, options: RDropLossOptions): RDropLoss {
  return tf.tidy(() => {
    const { labels, alpha, unlabeledAlpha = alpha } = options;
    const n = labels.shape[0] ?? 0;
    const numClasses = logits.shape[logits.rank - 1] ?? 0;
    const [first, second] = splitTwins(logits, n);
    const logP1 = tf.logSoftmax(first.toFloat());
    const logP2 = tf.logSoftmax(second.toFloat());
    const p1 = tf.exp(logP1);
    const p2 = tf.exp(logP2);
    const diff = tf.sub(logP1, logP2);
    // 0.5 * (sum p1 (log p1 - log p2) + sum p2 (log p2 - log p1)) = 0.5 * sum (p1 - p2)(log p1 - log p2)
    const klRows = tf.mul(0.5, tf.sum(tf.mul(tf.sub(p1, p2), diff), -1));
    const mask = options.mask?.toFloat() ?? tf.onesLike(klRows);
    const labeled = tf.mul(tf.cast(tf.greaterEqual(labels, 0), "float32"), mask);
    const oneHot = tf.oneHot(tf.cast(tf.maximum(labels, 0), "int32").flatten(), numClasses)
      .reshape([...labels.shape, numClasses]);
    const ceRows = tf.mul(-0.5, tf.sum(tf.mul(oneHot, tf.add(logP1, logP2)), -1));
    const ce = maskedMean(ceRows, labeled);
    const kl = maskedMean(klRows, mask);
    const rowAlpha = tf.add(tf.mul(labeled, alpha), tf.mul(tf.sub(mask, labeled), unlabeledAlpha));
    let loss = tf.add(ce, maskedMean(tf.mul(klRows, rowAlpha), mask)) as tf.Scalar;
    let alignment = tf.scalar(0);
    const { prior, priorWeight = 0 } = options;
    if (prior && priorWeight > 0) {
      alignment = priorAlignment(p1, p2, prior, tf.sub(mask, labeled));
      loss = tf.add(loss, tf.mul(priorWeight, alignment)) as tf.Scalar;
    }
    return { loss, ce, kl, alignment };
  });
}

/** KL(prior || mean of the twins' probabilities over the rows where `weights` is 1). */
function priorAlignment(
  p1: tf.Tensor,
  p2: tf.Tensor,
  prior: tf.Tensor1D,
  weights: tf.Tensor,
): tf.Scalar {
  const classes = p1.shape[p1.rank - 1] ?? 0;
  const rows = tf.reshape(tf.mul(0.5, tf.add(p1, p2)), [-1, classes]);
  const w = tf.reshape(weights, [-1, 1]);
  const count = tf.sum(w);
  const mean = tf.div(tf.sum(tf.mul(rows, w), 0), tf.maximum(count, 1));
  const kl = tf.sum(
    tf.mul(prior, tf.sub(tf.log(tf.maximum(prior, 1e-8)), tf.log(tf.maximum(mean, 1e-8)))),
  );
  // No unlabeled rows: nothing to align.
  return tf.mul(kl, tf.minimum(count, 1)) as tf.Scalar;
}

/** Options of {@linkcode rdropMseLoss}. */
export interface RDropMseLossOptions {
  /** Targets of the first n rows, shape `[n, ...]` like one twin's output. */
  targets: tf.Tensor;
  /** 1 for a row with a target, 0 for an unlabeled row; shape `[n]`. */
  labeledMask: tf.Tensor;
  /** Weight of the consistency term. */
  alpha: number;
}

/** The parts of an R-Drop loss for a regression head, as scalars. */
export interface RDropMseLoss {
  /** `mse + alpha * consistency`. */
  loss: tf.Scalar;
  /** Mean squared error to the targets, averaged over twins and labeled rows. */
  mse: tf.Scalar;
  /** Mean squared difference between the twins, averaged over all rows. */
  consistency: tf.Scalar;
}

/**
 * R-Drop for regression heads: MSE to the targets on labeled rows plus alpha
 * times the MSE between the twin outputs on all rows.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { rdropMseLoss } from "./rdrop_loss.ts";
 * import assert from "node:assert/strict";
 * const out = tf.tensor2d([[1], [3]]); // one row, twins 1 and 3
 * const { mse, consistency } = rdropMseLoss(out, { targets: tf.tensor2d([[2]]), labeledMask: tf.tensor1d([1]), alpha: 1 });
 * assert.equal(mse.dataSync()[0], 1);
 * assert.equal(consistency.dataSync()[0], 4);
 * ```
 */
export function rdropMseLoss(output: tf.Tensor, options: RDropMseLossOptions): RDropMseLoss {
  return tf.tidy(() => {
    const { targets, labeledMask, alpha } = options;
    const n = targets.shape[0] ?? 0;
    const [first, second] = splitTwins(output, n);
    const rowMean = (t: tf.Tensor) =>
      t.rank > 1 ? tf.mean(t, [...Array(t.rank - 1).keys()].map((a) => a + 1)) : t;
    const err = tf.mul(
      0.5,
      tf.add(
        rowMean(tf.squaredDifference(first, targets)),
        rowMean(tf.squaredDifference(second, targets)),
      ),
    );
    const mse = maskedMean(err, labeledMask.toFloat());
    const consistency = tf.mean(rowMean(tf.squaredDifference(first, second))) as tf.Scalar;
    const loss = tf.add(mse, tf.mul(alpha, consistency)) as tf.Scalar;
    return { loss, mse, consistency };
  });
}
