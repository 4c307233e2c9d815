// Layer configs in the tfjs Layers JSON format (as `model.toJSON()` writes
// them), so built-in topologies are plain data that needs no backend.

const initializer = {
  class_name: "VarianceScaling",
  config: { scale: 1, mode: "fan_avg", distribution: "normal", seed: null },
};
const zeros = { class_name: "Zeros", config: {} };

function inputShape(shape?: number[]) {
  return shape ? { batch_input_shape: [null, ...shape], dtype: "float32" } : {};
}

export function dense(name: string, units: number, activation: string, input?: number[]) {
  return {
    class_name: "Dense",
    config: {
      units,
      activation,
      use_bias: true,
      kernel_initializer: initializer,
      bias_initializer: zeros,
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
      name,
      trainable: true,
      ...inputShape(input),
    },
  };
}

export function dropout(name: string, rate: number) {
  return {
    class_name: "Dropout",
    config: { rate, noise_shape: null, seed: null, name, trainable: true },
  };
}

export function conv2d(name: string, filters: number, kernel: number, input?: number[]) {
  return {
    class_name: "Conv2D",
    config: {
      filters,
      kernel_initializer: initializer,
      kernel_regularizer: null,
      kernel_constraint: null,
      kernel_size: [kernel, kernel],
      strides: [1, 1],
      padding: "valid",
      data_format: "channels_last",
      dilation_rate: [1, 1],
      activation: "relu",
      use_bias: true,
      bias_initializer: zeros,
      bias_regularizer: null,
      activity_regularizer: null,
      bias_constraint: null,
      name,
      trainable: true,
      ...inputShape(input),
    },
  };
}

export function maxPooling2d(name: string, size: number) {
  return {
    class_name: "MaxPooling2D",
    config: {
      pool_size: [size, size],
      padding: "valid",
      strides: [size, size],
      data_format: "channels_last",
      name,
      trainable: true,
    },
  };
}

export function flatten(name: string) {
  return { class_name: "Flatten", config: { name, trainable: true } };
}

export function sequential(name: string, layers: unknown[]): Record<string, unknown> {
  return {
    class_name: "Sequential",
    config: { name, layers },
    keras_version: "tfjs-layers 4.22.0",
    backend: "tensor_flow.js",
  };
}

/**
 * An Embedding layer: token ids in `[0, inputDim)` to vectors of `outputDim`,
 * initialised uniformly in [-0.05, 0.05]. Given `inputLength`, it is the first
 * layer and takes rows of that many ids.
 *
 * @example
 * ```ts
 * import { embedding } from "./layers.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(embedding("embedding", 100, 8, 16).config.batch_input_shape, [null, 16]);
 * ```
 */
export function embedding(name: string, inputDim: number, outputDim: number, inputLength?: number) {
  return {
    class_name: "Embedding",
    config: {
      input_dim: inputDim,
      output_dim: outputDim,
      embeddings_initializer: {
        class_name: "RandomUniform",
        config: { minval: -0.05, maxval: 0.05, seed: null },
      },
      embeddings_regularizer: null,
      activity_regularizer: null,
      embeddings_constraint: null,
      mask_zero: null,
      input_length: inputLength ?? null,
      name,
      trainable: true,
      ...inputShape(inputLength === undefined ? undefined : [inputLength]),
    },
  };
}

/**
 * A GlobalAveragePooling1D layer: the mean over the steps of `[batch, steps,
 * features]`. It averages every step: tfjs ignores an Embedding's mask here.
 *
 * @example
 * ```ts
 * import { globalAveragePooling1d } from "./layers.ts";
 * import assert from "node:assert/strict";
 * assert.equal(globalAveragePooling1d("pool").class_name, "GlobalAveragePooling1D");
 * ```
 */
export function globalAveragePooling1d(name: string) {
  return { class_name: "GlobalAveragePooling1D", config: { name, trainable: true } };
}
