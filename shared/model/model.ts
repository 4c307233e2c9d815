/**
 * Building a task's tfjs model and moving its weights in and out by name.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Float32Tensor } from "../wire/safetensors.ts";
// Registers the LoRA layer, so topologies with adapters build everywhere models are built.
import "../lora/lora_dense.ts";
import "../transformer/attention.ts";
import "../transformer/gelu.ts";
import "../transformer/pool.ts";
import "../transformer/token_embedding.ts";

/** Name and shape of one weight of a model. */
export interface WeightSpec {
  /** The tfjs weight name, e.g. `"dense1/kernel"`. */
  name: string;
  /** The weight's shape. */
  shape: number[];
}

/** Options of {@linkcode buildModel}. */
export interface BuildModelOptions {
  /** Seed of the weight initializers that have none in the topology. @default 0 */
  seed?: number;
}

/**
 * A copy of a topology with `change` applied to the config of every
 * initializer in it (each `*_initializer` field).
 *
 * @example
 * ```ts
 * import { mapInitializers } from "./model.ts";
 * import assert from "node:assert/strict";
 * const t = { config: { kernel_initializer: { class_name: "GlorotUniform", config: { seed: null } } } };
 * const seeded = mapInitializers(t, (c) => ({ ...c, seed: 7 })) as typeof t;
 * assert.deepEqual(seeded.config.kernel_initializer.config, { seed: 7 });
 * ```
 */
export function mapInitializers(
  node: unknown,
  change: (config: Record<string, unknown>) => Record<string, unknown>,
): unknown {
  if (Array.isArray(node)) return node.map((item) => mapInitializers(item, change));
  if (node === null || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.endsWith("_initializer") && value && typeof value === "object" && "config" in value) {
      const init = value as { class_name?: string; config: Record<string, unknown> | null };
      out[key] = { ...init, config: change({ ...(init.config ?? {}) }) };
    } else {
      out[key] = mapInitializers(value, change);
    }
  }
  return out;
}

/**
 * Builds a tfjs model from a Layers topology (the `modelTopology` of a
 * model.json). Initializers without a seed get one derived from `seed`, so
 * the same topology and seed give the same initial weights.
 *
 * @example
 * ```ts
 * import { buildModel, weightSpecs } from "./model.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const model = await buildModel(mnistMlpTopology());
 * assert.deepEqual(weightSpecs(model)[0], { name: "dense1/kernel", shape: [784, 256] });
 * ```
 */
export async function buildModel(
  topology: Record<string, unknown>,
  options: BuildModelOptions = {},
): Promise<tf.LayersModel> {
  let counter = (options.seed ?? 0) * 1000;
  const seeded = mapInitializers(
    topology,
    (
      config,
    ) => (config.seed === undefined || config.seed === null
      ? { ...config, seed: ++counter }
      : config),
  ) as tf.io.ModelJSON["modelTopology"];
  try {
    return await tf.models.modelFromJSON({ modelTopology: seeded });
  } catch (error) {
    throw new TypeError(`Cannot build model: ${error instanceof Error ? error.message : error}`);
  }
}

function nameOf(weight: tf.LayerVariable): string {
  return (weight as unknown as { originalName: string }).originalName;
}

/**
 * Names and shapes of a model's weights; `trainableOnly` for those that train.
 *
 * @example
 * ```ts
 * import { buildModel, weightSpecs } from "./model.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const model = await buildModel(mnistMlpTopology());
 * assert.equal(weightSpecs(model, { trainableOnly: true }).length, 6);
 * ```
 */
export function weightSpecs(
  model: tf.LayersModel,
  options: { trainableOnly?: boolean } = {},
): WeightSpec[] {
  const weights = options.trainableOnly ? model.trainableWeights : model.weights;
  return weights.map((w) => ({ name: nameOf(w), shape: [...w.shape] as number[] }));
}

/**
 * Reads a model's weights into named Float32 tensors.
 *
 * @example
 * ```ts
 * import { buildModel, readWeights } from "./model.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const weights = readWeights(await buildModel(mnistMlpTopology()));
 * assert.equal(weights.get("dense1/bias")?.data.length, 256);
 * ```
 */
export function readWeights(
  model: tf.LayersModel,
  options: { trainableOnly?: boolean } = {},
): Map<string, Float32Tensor> {
  const weights = options.trainableOnly ? model.trainableWeights : model.weights;
  return new Map(weights.map((w) => [nameOf(w), {
    shape: [...w.shape] as number[],
    data: Float32Array.from(w.read().dataSync() as Float32Array),
  }]));
}

/**
 * {@linkcode readWeights}, read from the backend asynchronously: the way that
 * works on every backend (WebGPU has no synchronous read in a browser worker,
 * where `dataSync` gives zeros).
 *
 * @example
 * ```ts
 * import { buildModel, readWeightsAsync } from "./model.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const weights = await readWeightsAsync(await buildModel(mnistMlpTopology()));
 * assert.equal(weights.get("dense1/bias")?.data.length, 256);
 * ```
 */
export async function readWeightsAsync(
  model: tf.LayersModel,
  options: { trainableOnly?: boolean } = {},
): Promise<Map<string, Float32Tensor>> {
  const weights = options.trainableOnly ? model.trainableWeights : model.weights;
  const values = await Promise.all(weights.map((w) => w.read().data()));
  return new Map(weights.map((w, i) => [nameOf(w), {
    shape: [...w.shape] as number[],
    data: Float32Array.from(values[i] as Float32Array),
  }]));
}

/**
 * Writes named tensors into a model's weights. Every name must be a weight of
 * the model with the same shape; weights not named keep their values.
 *
 * @example
 * ```ts
 * import { buildModel, readWeights, writeWeights } from "./model.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const model = await buildModel(mnistMlpTopology());
 * writeWeights(model, new Map([["dense1/bias", { shape: [256], data: new Float32Array(256).fill(1) }]]));
 * assert.equal(readWeights(model).get("dense1/bias")?.data[0], 1);
 * ```
 */
export function writeWeights(model: tf.LayersModel, tensors: Map<string, Float32Tensor>): void {
  const byName = new Map(model.weights.map((w) => [nameOf(w), w]));
  for (const [name, tensor] of tensors) {
    const weight = byName.get(name);
    if (!weight) throw new RangeError(`Cannot write weights: model has no weight "${name}"`);
    if (weight.shape.join() !== tensor.shape.join()) {
      throw new RangeError(
        `Cannot write weights: "${name}" has shape [${tensor.shape}], expected [${weight.shape}]`,
      );
    }
  }
  for (const [name, tensor] of tensors) {
    const weight = byName.get(name)!;
    const value = tf.tensor(tensor.data, tensor.shape, "float32");
    weight.write(value);
    value.dispose();
  }
}
