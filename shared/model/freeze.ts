/**
 * Choosing which layers of a tfjs Layers topology train, by name or pattern.
 * The choice is written into the topology (`trainable: false`), so every
 * model built from it, on the coordinator or a client, agrees.
 * @module
 */

/** Options of {@linkcode setTrainable}: give one of the two lists. */
export interface SetTrainableOptions {
  /** Layer names or glob patterns (`*`, `?`) of the layers that train; all others freeze. */
  trainable?: readonly string[];
  /** Layer names or glob patterns of the layers that freeze; all others train. */
  frozen?: readonly string[];
}

/** A layer of a Layers topology, as model.json holds it. */
export interface LayerEntry {
  class_name?: string;
  name?: string;
  config?: { name?: string; trainable?: boolean; [key: string]: unknown };
}

function modelConfig(topology: Record<string, unknown>): { layers?: LayerEntry[] } {
  // A Keras-converted model.json nests the model under `model_config`.
  const root = (topology.model_config ?? topology) as {
    config?: { layers?: LayerEntry[] } | LayerEntry[];
  };
  const config = root.config;
  return Array.isArray(config) ? { layers: config } : config ?? {};
}

/**
 * The layers of a topology (Sequential, Functional, or nested under
 * `model_config`), as they are in it: changing one changes the topology.
 *
 * @example
 * ```ts
 * import { topologyLayers } from "./freeze.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * assert.equal(topologyLayers(mnistMlpTopology())[0]?.class_name, "Dense");
 * ```
 */
export function topologyLayers(topology: Record<string, unknown>): LayerEntry[] {
  return modelConfig(topology).layers ?? [];
}

/**
 * A glob of layer names (`*`, `?`) as a regular expression.
 *
 * @example
 * ```ts
 * import { patternToRegExp } from "./freeze.ts";
 * import assert from "node:assert/strict";
 * assert.ok(patternToRegExp("dense*").test("dense1"));
 * ```
 */
export function patternToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(
    /\?/g,
    ".",
  );
  return new RegExp(`^${escaped}$`);
}

/**
 * Names of the top-level layers of a topology, in order.
 *
 * @example
 * ```ts
 * import { layerNames } from "./freeze.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(layerNames(mnistMlpTopology()), ["dense1", "dropout1", "dense2", "dropout2", "logits"]);
 * ```
 */
export function layerNames(topology: Record<string, unknown>): string[] {
  return (modelConfig(topology).layers ?? []).map((l) => l.config?.name ?? l.name ?? "");
}

/**
 * Returns a copy of the topology with `trainable` set on each layer. Every
 * name or pattern must match at least one layer, or a RangeError names it.
 *
 * @example
 * ```ts
 * import { setTrainable } from "./freeze.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const frozen = setTrainable(mnistMlpTopology(), { frozen: ["dense*"] });
 * assert.ok(JSON.stringify(frozen).includes('"trainable":false'));
 * ```
 */
export function setTrainable(
  topology: Record<string, unknown>,
  options: SetTrainableOptions,
): Record<string, unknown> {
  const patterns = options.trainable ?? options.frozen;
  if (!patterns) return topology;
  const copy = structuredClone(topology);
  const layers = modelConfig(copy).layers ?? [];
  const names = layers.map((l) => l.config?.name ?? l.name ?? "");
  const regexps = patterns.map((p) => ({ pattern: p, re: patternToRegExp(p) }));
  for (const { pattern, re } of regexps) {
    if (!names.some((name) => re.test(name))) {
      throw new RangeError(
        `Cannot freeze layers: no layer matches "${pattern}" (layers: ${names.join(", ")})`,
      );
    }
  }
  layers.forEach((layer, i) => {
    const matched = regexps.some(({ re }) => re.test(names[i]!));
    const trainable = options.trainable ? matched : !matched;
    layer.config = { ...layer.config, trainable };
  });
  return copy;
}
