/**
 * A small pre-LayerNorm transformer as a tfjs functional model, built from
 * the registered layers of this folder and tfjs's own (Dense, Dropout, Add,
 * LayerNormalization), so its topology serialises and every client builds
 * the same model from /v1/task.
 *
 * The architecture, exactly (`x` the token ids `[b, T]`, padding id 0):
 *
 * ```
 * h = dropout(E[x] + P[0..T))                             embedding
 * for each block i:
 *   a = LN_1(h)                                           eps 1e-5, learned gamma and beta
 *   q, k, v = a Wq + bq, a Wk + bk, a Wv + bv             Dense, named block{i}_query/_key/_value
 *   h = h + dropout(attention(q, k, v) Wo + bo)           heads of width dModel / heads; scores
 *                                                         q kᵀ / sqrt(width), causal and padding
 *                                                         masks at -1e9, dropout on probabilities
 *   h = h + dropout(gelu(LN_2(h) W1 + b1) W2 + b2)        GELU, tanh approximation: 0.5 x (1 +
 *                                                         tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
 * h = LN_f(h)
 * tokens:   logits = h Eᵀ (tied) or h Wout + bout         [b, T, classes]
 * sequence: logits = mean of h over real positions, Wout  [b, classes]
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { MultiHeadAttention } from "./attention.ts";
import { GeluTanh } from "./gelu.ts";
import { MaskedMeanPool } from "./pool.ts";
import { TokenEmbedding } from "./token_embedding.ts";
import { mapInitializers, readWeights } from "../model/model.ts";
import { encodeSafetensors } from "../wire/safetensors.ts";

/** The layer-norm epsilon of every LayerNormalization. */
export const LAYER_NORM_EPSILON = 1e-5;

/** What the model outputs: a distribution per position, or one per sequence. */
export type TransformerOutput =
  | { kind: "tokens"; classes: number }
  | { kind: "sequence"; classes: number };

/** A transformer's shape. */
export interface TransformerSpec {
  /** Tokens in the vocabulary (id 0 is padding). */
  vocabSize: number;
  /** Blocks. */
  layers: number;
  /** Width of the hidden states. */
  dModel: number;
  /** Attention heads; they split dModel evenly. */
  heads: number;
  /** Width of each block's MLP. */
  ffn: number;
  /** The longest sequence. */
  maxLength: number;
  /** Causal attention (a language model) or bidirectional. */
  causal: boolean;
  /** Dropout on the embeddings, the attention probabilities and both residual branches. */
  dropout: number;
  /** The output projection is the token embedding (only for tokens over the vocabulary). */
  tied: boolean;
  /** The output. */
  output: TransformerOutput;
}

/** Refuses a spec that cannot build, naming the field. */
export function checkTransformerSpec(spec: TransformerSpec): void {
  const positive = ["vocabSize", "layers", "dModel", "heads", "ffn", "maxLength"] as const;
  for (const field of positive) {
    if (!Number.isInteger(spec[field]) || spec[field] < 1) {
      throw new RangeError(`transformer.${field} must be an integer ≥ 1, got ${spec[field]}`);
    }
  }
  if (spec.dModel % spec.heads !== 0) {
    throw new RangeError(
      `transformer.dModel (${spec.dModel}) must be a multiple of transformer.heads (${spec.heads})`,
    );
  }
  if (!(spec.dropout >= 0 && spec.dropout < 1)) {
    throw new RangeError(`transformer.dropout must be in [0, 1), got ${spec.dropout}`);
  }
  if (!Number.isInteger(spec.output.classes) || spec.output.classes < 1) {
    throw new RangeError(`the output's classes must be an integer ≥ 1`);
  }
  if (spec.tied && (spec.output.kind !== "tokens" || spec.output.classes !== spec.vocabSize)) {
    throw new RangeError(
      "transformer.tied needs a per-token output over the vocabulary (a language model)",
    );
  }
}

/**
 * Builds the model, its weights from tfjs's initializers seeded from `seed`
 * (default 0): the same spec and seed give the same weights.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { transformerModel } from "./model.ts";
 * import assert from "node:assert/strict";
 * const model = transformerModel({
 *   vocabSize: 20, layers: 1, dModel: 8, heads: 2, ffn: 16, maxLength: 6,
 *   causal: true, dropout: 0.1, tied: true, output: { kind: "tokens", classes: 20 },
 * });
 * const logits = model.predict(tf.tensor2d([[3, 4, 5, 0, 0, 0]])) as tf.Tensor;
 * assert.deepEqual(logits.shape, [1, 6, 20]);
 * ```
 */
export function transformerModel(
  spec: TransformerSpec,
  options: { seed?: number } = {},
): tf.LayersModel {
  checkTransformerSpec(spec);
  let seed = options.seed ?? 0;
  const kernel = () => tf.initializers.glorotUniform({ seed: ++seed });
  const ids = tf.input({ shape: [spec.maxLength], name: "ids", dtype: "float32" });
  const embedding = new TokenEmbedding({
    name: "embedding",
    vocabSize: spec.vocabSize,
    dModel: spec.dModel,
    maxLength: spec.maxLength,
    dropout: spec.dropout,
    embeddingsInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.02, seed: ++seed }),
  });
  const dense = (name: string, units: number) =>
    tf.layers.dense({ name, units, kernelInitializer: kernel() });
  const norm = (name: string) =>
    tf.layers.layerNormalization({ name, axis: -1, epsilon: LAYER_NORM_EPSILON });
  const drop = (name: string) => tf.layers.dropout({ name, rate: spec.dropout });
  let h = embedding.apply(ids) as tf.SymbolicTensor;
  for (let i = 0; i < spec.layers; i++) {
    const block = `block${i}`;
    const a = norm(`${block}_ln1`).apply(h) as tf.SymbolicTensor;
    const [q, k, v] = ["query", "key", "value"].map((p) =>
      dense(`${block}_${p}`, spec.dModel).apply(a) as tf.SymbolicTensor
    );
    const attended = new MultiHeadAttention({
      name: `${block}_attention`,
      heads: spec.heads,
      causal: spec.causal,
      dropout: spec.dropout,
    }).apply([q!, k!, v!, ids]) as tf.SymbolicTensor;
    const projected = dense(`${block}_output`, spec.dModel).apply(attended) as tf.SymbolicTensor;
    h = tf.layers.add({ name: `${block}_residual1` })
      .apply([
        h,
        drop(`${block}_dropout1`).apply(projected) as tf.SymbolicTensor,
      ]) as tf.SymbolicTensor;
    const m = norm(`${block}_ln2`).apply(h) as tf.SymbolicTensor;
    const up = new GeluTanh({ name: `${block}_gelu` })
      .apply(dense(`${block}_mlp_in`, spec.ffn).apply(m)) as tf.SymbolicTensor;
    const down = dense(`${block}_mlp_out`, spec.dModel).apply(up) as tf.SymbolicTensor;
    h = tf.layers.add({ name: `${block}_residual2` })
      .apply([h, drop(`${block}_dropout2`).apply(down) as tf.SymbolicTensor]) as tf.SymbolicTensor;
  }
  h = norm("final_ln").apply(h) as tf.SymbolicTensor;
  let logits: tf.SymbolicTensor;
  if (spec.output.kind === "sequence") {
    const pooled = new MaskedMeanPool({ name: "pool" }).apply([h, ids]) as tf.SymbolicTensor;
    logits = dense("logits", spec.output.classes).apply(pooled) as tf.SymbolicTensor;
  } else if (spec.tied) {
    logits = embedding.apply(h) as tf.SymbolicTensor;
  } else {
    logits = dense("logits", spec.output.classes).apply(h) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: ids, outputs: logits, name: "transformer" });
}

/**
 * The model's Layers topology (the `modelTopology` of a model.json), as a
 * task serves it.
 *
 * @example
 * ```ts
 * import { transformerTopology } from "./model.ts";
 * import assert from "node:assert/strict";
 * const topology = transformerTopology({
 *   vocabSize: 20, layers: 1, dModel: 8, heads: 2, ffn: 16, maxLength: 6,
 *   causal: false, dropout: 0.1, tied: false, output: { kind: "tokens", classes: 5 },
 * });
 * assert.equal(topology.class_name, "Model");
 * ```
 */
export function transformerTopology(spec: TransformerSpec): Record<string, unknown> {
  const model = transformerModel(spec);
  try {
    // Unseeded: buildModel seeds every initializer from the task's model seed.
    return mapInitializers(model.toJSON(null, false), ({ seed: _, ...config }) => config) as Record<
      string,
      unknown
    >;
  } finally {
    model.dispose();
  }
}

/**
 * The model's weights as safetensors, with the spec in the metadata
 * (`transformer`, JSON), under the names and layouts the module doc and
 * `reference_forward.py` give: what a NumPy or PyTorch user rebuilds the
 * model from.
 *
 * @example
 * ```ts
 * import { exportTransformer, transformerModel } from "./model.ts";
 * import { decodeSafetensors } from "../wire/safetensors.ts";
 * import assert from "node:assert/strict";
 * const spec = {
 *   vocabSize: 20, layers: 1, dModel: 8, heads: 2, ffn: 16, maxLength: 6,
 *   causal: true, dropout: 0, tied: true, output: { kind: "tokens" as const, classes: 20 },
 * };
 * const file = decodeSafetensors(exportTransformer(transformerModel(spec), spec));
 * assert.deepEqual(file.tensors.get("block0_query/kernel")!.shape, [8, 8]);
 * assert.deepEqual(JSON.parse(file.metadata.transformer!), spec);
 * ```
 */
export function exportTransformer(model: tf.LayersModel, spec: TransformerSpec): Uint8Array {
  return encodeSafetensors(readWeights(model), { transformer: JSON.stringify(spec) });
}
