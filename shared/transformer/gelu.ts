/**
 * GELU, tanh approximation (as GPT-2 and BERT's `gelu_new`), as a registered
 * tfjs layer: `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`. tfjs's own
 * `gelu_new` activation does not survive serialisation (it is written as
 * `geluNew`, which it cannot read back), so the model applies this layer
 * after a linear Dense. Registered as `GeluTanh`.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * GELU (tanh approximation), element by element.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { GeluTanh } from "./gelu.ts";
 * import assert from "node:assert/strict";
 * const y = (new GeluTanh({}).apply(tf.tensor1d([0, 1])) as tf.Tensor).dataSync();
 * assert.equal(y[0], 0);
 * assert.ok(Math.abs(y[1]! - 0.8411920) < 1e-6);
 * ```
 */
export class GeluTanh extends tf.layers.Layer {
  /** The class name in serialised topologies. */
  static className = "GeluTanh";

  /** Creates the layer (it has no weights). */
  constructor(args: { name?: string }) {
    super(args as ConstructorParameters<typeof tf.layers.Layer>[0]);
  }

  /** `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`. */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
      return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
    });
  }
}

tf.serialization.registerClass(GeluTanh);
