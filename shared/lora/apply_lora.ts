/**
 * Turning a topology into its LoRA form (`model.lora` of a task file): each
 * target Dense layer becomes a {@linkcode LoraDense} of the same name and
 * settings, every other layer is frozen. So only the adapters train, travel,
 * are validated and aggregated; codecs, strategies, the edge, secure
 * aggregation and DP see them as any other trainable weights.
 * @module
 */
import { patternToRegExp, topologyLayers } from "../model/freeze.ts";
import type { LoraConfig } from "../schemas/mod.ts";

/** The layer classes an adapter can wrap. */
export const LORA_TARGET_CLASSES = ["Dense"] as const;

/**
 * The topology with adapters on the layers `lora.targets` names (globs), the
 * layers `lora.modulesToSave` names left trainable in full, the others
 * frozen. Throws a RangeError when a pattern matches no layer, a target is not
 * Dense, or a layer is both a target and a module to save. `seed`: the
 * task's, from which each A's is drawn.
 *
 * @example
 * ```ts
 * import { withLora } from "./apply_lora.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import { topologyLayers } from "../model/freeze.ts";
 * import assert from "node:assert/strict";
 * const lora = withLora(mnistMlpTopology(), { rank: 4, alpha: 8, targets: ["dense*"], modulesToSave: ["logits"], dropout: 0, aggregation: "ffa" });
 * assert.equal(topologyLayers(lora)[0]?.class_name, "LoraDense");
 * assert.equal(topologyLayers(lora).at(-1)?.config?.trainable, true);
 * ```
 */
export function withLora(
  topology: Record<string, unknown>,
  lora: LoraConfig,
  seed = 0,
): Record<string, unknown> {
  const copy = structuredClone(topology);
  const layers = topologyLayers(copy);
  const names = layers.map((l) => l.config?.name ?? l.name ?? "");
  const compile = (list: readonly string[], what: string) =>
    list.map((pattern) => {
      const re = patternToRegExp(pattern);
      if (!names.some((name) => re.test(name))) {
        throw new RangeError(
          `Cannot ${what}: no layer matches "${pattern}" (layers: ${names.join(", ")})`,
        );
      }
      return re;
    });
  const patterns = compile(lora.targets, "add LoRA adapters");
  const saved = compile(lora.modulesToSave ?? [], "train a module in full beside the adapters");
  layers.forEach((layer, i) => {
    const name = names[i]!;
    const target = patterns.some((re) => re.test(name));
    const save = saved.some((re) => re.test(name));
    if (target && save) {
      throw new RangeError(
        `Cannot both adapt "${name}" and train it in full: take it out of lora.targets or lora.modulesToSave`,
      );
    }
    if (!target) {
      layer.config = { ...layer.config, trainable: save };
      return;
    }
    if (!(LORA_TARGET_CLASSES as readonly string[]).includes(layer.class_name ?? "")) {
      throw new RangeError(
        `Cannot add a LoRA adapter to "${name}": it is a ${layer.class_name} layer, and adapters wrap ${
          LORA_TARGET_CLASSES.join(", ")
        } layers`,
      );
    }
    layer.class_name = "LoraDense";
    layer.config = {
      ...layer.config,
      trainable: true,
      rank: lora.rank,
      alpha: lora.alpha,
      dropout: lora.dropout,
      train_a: lora.aggregation === "naive",
      // Every client builds the same A (FFA-LoRA keeps it there for good).
      seed: seed * 1000 + 500 + i,
    };
  });
  return copy;
}

/** The adapters of a LoRA topology: each target layer's name and settings. */
export interface AdapterSpec {
  name: string;
  rank: number;
  alpha: number;
  dropout: number;
  trainA: boolean;
}

/**
 * The adapters a topology holds (none for a plain one).
 *
 * @example
 * ```ts
 * import { adapters, withLora } from "./apply_lora.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const lora = withLora(mnistMlpTopology(), { rank: 4, alpha: 8, targets: ["logits"], modulesToSave: [], dropout: 0, aggregation: "ffa" });
 * assert.deepEqual(adapters(lora).map((a) => a.name), ["logits"]);
 * ```
 */
export function adapters(topology: Record<string, unknown>): AdapterSpec[] {
  return topologyLayers(topology).flatMap((layer) => {
    if (layer.class_name !== "LoraDense") return [];
    const c = layer.config as Record<string, unknown>;
    return [{
      name: String(c.name),
      rank: Number(c.rank),
      alpha: Number(c.alpha),
      dropout: Number(c.dropout ?? 0),
      trainA: Boolean(c.train_a ?? c.trainA),
    }];
  });
}

/**
 * The layers of a LoRA topology trained in full beside the adapters
 * (`lora.modulesToSave`): every trainable layer that is not an adapter.
 *
 * @example
 * ```ts
 * import { savedModules, withLora } from "./apply_lora.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const lora = withLora(mnistMlpTopology(), { rank: 4, alpha: 8, targets: ["dense1"], modulesToSave: ["logits"], dropout: 0, aggregation: "ffa" });
 * assert.deepEqual(savedModules(lora), ["logits"]);
 * ```
 */
export function savedModules(topology: Record<string, unknown>): string[] {
  return topologyLayers(topology).flatMap((layer) =>
    layer.class_name !== "LoraDense" && layer.config?.trainable !== false
      ? [String(layer.config?.name ?? layer.name)]
      : []
  );
}
