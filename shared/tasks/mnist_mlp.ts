/**
 * The built-in task `mnist-mlp`: a 784-256-256-10 MLP with dropout 0.3 on
 * MNIST digits.
 * @module
 */
import { dense, dropout as dropoutLayer, sequential } from "./layers.ts";
import type { TaskConfig, TaskConfigInput } from "../schemas/mod.ts";
import { builtinTaskConfig } from "./_task.ts";

/** Options of {@linkcode mnistMlpTopology}. */
export interface MnistMlpOptions {
  /** Dropout rate after each hidden layer. @default 0.3 */
  dropout?: number;
  /** Units of each hidden layer. @default [256, 256] */
  hidden?: number[];
}

/**
 * The Layers topology of the MLP (as `model.toJSON()` writes it, so it needs
 * no backend); its output is logits (no softmax).
 *
 * @example
 * ```ts
 * import { mnistMlpTopology } from "./mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * assert.equal(mnistMlpTopology().class_name, "Sequential");
 * ```
 */
export function mnistMlpTopology(options: MnistMlpOptions = {}): Record<string, unknown> {
  const { dropout = 0.3, hidden = [256, 256] } = options;
  const layers: unknown[] = [];
  hidden.forEach((units, i) => {
    layers.push(dense(`dense${i + 1}`, units, "relu", i === 0 ? [784] : undefined));
    layers.push(dropoutLayer(`dropout${i + 1}`, dropout));
  });
  layers.push(dense("logits", 10, "linear"));
  return sequential("mnist_mlp", layers);
}

/**
 * The task config of `mnist-mlp`, with overrides merged over its defaults.
 *
 * @example
 * ```ts
 * import { mnistMlpTask } from "./mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * assert.equal(mnistMlpTask({ rounds: { total: 3 } }).rounds.total, 3);
 * ```
 */
export function mnistMlpTask(
  overrides: {
    training?: TaskConfigInput["training"];
    rounds?: TaskConfigInput["rounds"];
    aggregation?: TaskConfigInput["aggregation"];
    dropout?: number;
  } = {},
): TaskConfig {
  return builtinTaskConfig({
    id: "mnist-mlp",
    topology: mnistMlpTopology({ dropout: overrides.dropout }),
    input: { shape: [784], labels: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] },
    learningRate: 0.001,
  }, overrides);
}
