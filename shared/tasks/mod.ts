/**
 * The built-in models by name, with the input they take.
 * @module
 */
import type { InputSpec } from "../schemas/mod.ts";
import { mnistCnnTopology } from "./mnist_cnn.ts";
import { mnistMlpTopology } from "./mnist_mlp.ts";
import { spamTextTask } from "./spam_text.ts";

/** A built-in model: its topology and the input it takes. */
export interface BuiltinModel {
  topology: Record<string, unknown>;
  input: InputSpec;
}

const DIGITS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/**
 * The built-in model called `name`, or a RangeError listing the names.
 *
 * @example
 * ```ts
 * import { builtinModel } from "./mod.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(builtinModel("mnist-cnn").input.shape, [28, 28, 1]);
 * ```
 */
export function builtinModel(name: string): BuiltinModel {
  switch (name) {
    case "mnist-mlp":
      return {
        topology: mnistMlpTopology(),
        input: {
          shape: [784],
          labels: DIGITS,
          image: { width: 28, height: 28, channels: 1, scale: "0,1", invert: false },
        },
      };
    case "mnist-cnn":
      return {
        topology: mnistCnnTopology(),
        input: {
          shape: [28, 28, 1],
          labels: DIGITS,
          image: { width: 28, height: 28, channels: 1, scale: "0,1", invert: false },
        },
      };
    case "spam-text": {
      const task = spamTextTask();
      return { topology: task.model.topology, input: task.input };
    }
    default:
      throw new RangeError(
        `Unknown built-in model "${name}": expected "mnist-mlp", "mnist-cnn" or "spam-text"`,
      );
  }
}
