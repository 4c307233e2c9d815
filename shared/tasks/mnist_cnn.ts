/**
 * The built-in model `mnist-cnn`: a small convolutional network for 28x28
 * grey digits (two 3x3 convolutions with max pooling, a dense layer with
 * dropout, 10 logits).
 * @module
 */
import { conv2d, dense, dropout, flatten, maxPooling2d, sequential } from "./layers.ts";

/** Options of {@linkcode mnistCnnTopology}. */
export interface MnistCnnOptions {
  /** Dropout rate before the logits. @default 0.3 */
  dropout?: number;
}

/**
 * The Layers topology of the CNN; input `[28, 28, 1]`, output logits.
 * Layers: conv1, pool1, conv2, pool2, flatten, dense1, dropout1, logits.
 *
 * @example
 * ```ts
 * import { mnistCnnTopology } from "./mnist_cnn.ts";
 * import assert from "node:assert/strict";
 * assert.equal(mnistCnnTopology().class_name, "Sequential");
 * ```
 */
export function mnistCnnTopology(options: MnistCnnOptions = {}): Record<string, unknown> {
  return sequential("mnist_cnn", [
    conv2d("conv1", 8, 3, [28, 28, 1]),
    maxPooling2d("pool1", 2),
    conv2d("conv2", 16, 3),
    maxPooling2d("pool2", 2),
    flatten("flatten"),
    dense("dense1", 64, "relu"),
    dropout("dropout1", options.dropout ?? 0.3),
    dense("logits", 10, "linear"),
  ]);
}
