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
