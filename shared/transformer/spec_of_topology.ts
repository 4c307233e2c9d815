/**
 * A transformer's spec read back from its Layers topology (as served in
 * /v1/task), so the exported weights can carry it for another framework.
 * @module
 */
import type { TransformerSpec } from "./model.ts";

interface LayerJson {
  class_name: string;
  config: Record<string, unknown>;
}

/**
 * The spec of a topology that `transformerModel` built (possibly with LoRA
 * adapters), or null when the topology is not such a transformer.
 *
 * @example
 * ```ts
 * import { transformerSpecOfTopology } from "./spec_of_topology.ts";
 * import { transformerTopology } from "./model.ts";
 * import assert from "node:assert/strict";
 * const spec = {
 *   vocabSize: 20, layers: 2, dModel: 8, heads: 2, ffn: 16, maxLength: 6, causal: true,
 *   dropout: 0.1, tied: true, output: { kind: "tokens" as const, classes: 20 },
 * };
 * assert.deepEqual(transformerSpecOfTopology(transformerTopology(spec)), spec);
 * ```
 */
export function transformerSpecOfTopology(
  topology: Record<string, unknown>,
): TransformerSpec | null {
  const layers = (topology as { config?: { layers?: LayerJson[] } }).config?.layers;
  if (!Array.isArray(layers)) return null;
  const named = (name: string) => layers.find((l) => l.config?.name === name);
  const embedding = named("embedding");
  const attention = named("block0_attention");
  const mlpIn = named("block0_mlp_in");
  if (embedding?.class_name !== "TokenEmbedding" || !attention || !mlpIn) return null;
  const blocks =
    layers.filter((l) =>
      l.class_name === "MultiHeadAttention" && /^block\d+_attention$/.test(String(l.config.name))
    ).length;
  const vocabSize = Number(embedding.config.vocab_size);
  const logits = named("logits");
  const pooled = named("pool") !== undefined;
  return {
    vocabSize,
    layers: blocks,
    dModel: Number(embedding.config.d_model),
    heads: Number(attention.config.heads),
    ffn: Number(mlpIn.config.units),
    maxLength: Number(embedding.config.max_length),
    causal: attention.config.causal === true,
    dropout: Number(embedding.config.dropout),
    tied: logits === undefined,
    output: {
      kind: pooled ? "sequence" : "tokens",
      classes: logits ? Number(logits.config.units) : vocabSize,
    },
  };
}
