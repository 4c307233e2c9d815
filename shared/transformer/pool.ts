/**
 * The mean of a sequence's hidden states over its real positions (padding
 * left out), for sequence classification: inputs `[h, ids]`, `h`
 * `[b, T, dModel]`, `ids` `[b, T]`; output `[b, dModel]`. A row of padding
 * only gives zeros. Registered as `MaskedMeanPool`.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Arguments of {@linkcode MaskedMeanPool}. */
export interface MaskedMeanPoolArgs {
  /** The layer's name. */
  name?: string;
  /** The token id of padding. @default 0 */
  padId?: number;
}

/**
 * Mean over the real positions of each row.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { MaskedMeanPool } from "./pool.ts";
 * import assert from "node:assert/strict";
 * const h = tf.tensor3d([[[1, 2], [3, 4], [100, 100]]]);
 * const pooled = new MaskedMeanPool({}).apply([h, tf.tensor2d([[5, 6, 0]])]) as tf.Tensor;
 * assert.deepEqual([...pooled.dataSync()], [2, 3]);
 * ```
 */
export class MaskedMeanPool extends tf.layers.Layer {
  /** The class name in serialised topologies. */
  static className = "MaskedMeanPool";
  readonly padId: number;

  /** Creates the layer (it has no weights). */
  constructor(args: MaskedMeanPoolArgs) {
    super(args as unknown as ConstructorParameters<typeof tf.layers.Layer>[0]);
    this.padId = args.padId ?? 0;
  }

  /** The mean of `h` over the positions whose id is not padding. */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      if (!Array.isArray(inputs) || inputs.length !== 2) {
        throw new TypeError("Cannot pool: MaskedMeanPool takes [hidden, ids]");
      }
      const [h, ids] = inputs as [tf.Tensor3D, tf.Tensor2D];
      const real = tf.cast(tf.notEqual(ids, this.padId), "float32").expandDims(-1);
      const count = tf.maximum(tf.sum(real, 1), 1);
      return tf.div(tf.sum(tf.mul(h, real), 1), count);
    });
  }

  /** `[b, dModel]`. */
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0]!, shape[2]!];
  }

  /** The padding id. */
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), padId: this.padId };
  }
}

tf.serialization.registerClass(MaskedMeanPool);
