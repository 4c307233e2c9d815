/**
 * Multi-head scaled dot-product attention as a registered tfjs layer, over
 * projections made by ordinary Dense layers (so LoRA can adapt them):
 * inputs `[q, k, v]` or `[q, k, v, ids]`, each of q, k, v `[b, T, dModel]`,
 * `ids` the token ids `[b, T]` whose `padId` positions are masked as keys.
 * Per head h (width `dModel / heads`):
 * `softmax(q_h k_hᵀ / sqrt(dModel / heads) + mask) v_h`, with the causal mask
 * (a position sees itself and those before it) when `causal`, and dropout on
 * the attention probabilities while training; the heads are concatenated.
 * Masked scores get -1e9 before the softmax. Registered as
 * `MultiHeadAttention`.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Arguments of {@linkcode MultiHeadAttention}. */
export interface MultiHeadAttentionArgs {
  /** The layer's name. */
  name?: string;
  /** Attention heads; they split `dModel` evenly. */
  heads: number;
  /** Each position attends only to itself and earlier positions. @default false */
  causal?: boolean;
  /** Dropout on the attention probabilities while training. @default 0 */
  dropout?: number;
  /** The token id of padding, masked as a key when ids are given. @default 0 */
  padId?: number;
}

/** The additive mask's value: far below any score, finite so that a row of masks stays finite. */
const MASKED = -1e9;

/**
 * Multi-head attention over given query, key and value projections.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { MultiHeadAttention } from "./attention.ts";
 * import assert from "node:assert/strict";
 * const layer = new MultiHeadAttention({ heads: 2, causal: true });
 * const x = tf.randomNormal([1, 3, 4]);
 * assert.deepEqual((layer.apply([x, x, x]) as tf.Tensor).shape, [1, 3, 4]);
 * ```
 */
export class MultiHeadAttention extends tf.layers.Layer {
  /** The class name in serialised topologies. */
  static className = "MultiHeadAttention";
  readonly heads: number;
  readonly causal: boolean;
  readonly dropout: number;
  readonly padId: number;

  /** Creates the layer (it has no weights). */
  constructor(args: MultiHeadAttentionArgs) {
    super(args as unknown as ConstructorParameters<typeof tf.layers.Layer>[0]);
    if (!Number.isInteger(args.heads) || args.heads < 1) {
      throw new RangeError(`Cannot build attention "${args.name}": heads must be an integer ≥ 1`);
    }
    const dropout = args.dropout ?? 0;
    if (!(dropout >= 0 && dropout < 1)) {
      throw new RangeError(`Cannot build attention "${args.name}": dropout must be in [0, 1)`);
    }
    this.heads = args.heads;
    this.causal = args.causal ?? false;
    this.dropout = dropout;
    this.padId = args.padId ?? 0;
  }

  /** The heads' attention over `[q, k, v]` (and the key padding of `ids`, when given). */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      const list = Array.isArray(inputs) ? inputs : [inputs, inputs, inputs];
      const [q, k, v, ids] = list as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor?];
      const [b, t, d] = q.shape;
      if (d % this.heads !== 0) {
        throw new RangeError(
          `Cannot attend: dModel ${d} does not split into ${this.heads} heads evenly`,
        );
      }
      const width = d / this.heads;
      const split = (x: tf.Tensor3D) =>
        x.reshape([b, t, this.heads, width]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
      let scores = tf.mul(
        tf.matMul(split(q), split(k), false, true),
        1 / Math.sqrt(width),
      ) as tf.Tensor4D;
      if (this.causal) {
        // Position i sees keys j <= i: the band above the diagonal is masked.
        const upper = tf.sub(1, tf.linalg.bandPart(tf.ones([t, t]), -1, 0));
        scores = tf.add(scores, tf.mul(upper, MASKED));
      }
      if (ids) {
        const padded = tf.cast(tf.equal(ids, this.padId), "float32").reshape([b, 1, 1, t]);
        scores = tf.add(scores, tf.mul(padded, MASKED));
      }
      let probs: tf.Tensor = tf.softmax(scores, -1);
      if (kwargs.training && this.dropout > 0) probs = tf.dropout(probs, this.dropout);
      return tf.matMul(probs as tf.Tensor4D, split(v)).transpose([0, 2, 1, 3]).reshape([b, t, d]);
    });
  }

  /** The query's shape. */
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
  }

  /** Heads, causal, dropout and the padding id. */
  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      heads: this.heads,
      causal: this.causal,
      dropout: this.dropout,
      padId: this.padId,
    };
  }
}

tf.serialization.registerClass(MultiHeadAttention);
