/**
 * Token and learned position embeddings in one registered tfjs layer, which
 * also serves as the tied output projection. Called on token ids `[b, T]` it
 * returns `E[ids] + P[0..T)` (`[b, T, dModel]`), with dropout on the sum while
 * training; called on hidden states `[b, T, dModel]` it returns `h Eᵀ`
 * (`[b, T, vocabSize]`), the logits of a model whose output embedding is its
 * input embedding. Registered as `TokenEmbedding`, so a topology served in
 * /v1/task builds the same layer on every client.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** A tfjs initializer, as the initializer functions return them. */
type Initializer = ReturnType<typeof tf.initializers.zeros>;

/** Arguments of {@linkcode TokenEmbedding}. */
export interface TokenEmbeddingArgs {
  /** The layer's name. */
  name?: string;
  /** Tokens in the vocabulary. */
  vocabSize: number;
  /** Width of the embeddings. */
  dModel: number;
  /** The longest sequence: rows of the position table. */
  maxLength: number;
  /** Dropout on the embeddings while training. @default 0 */
  dropout?: number;
  /** Initializer of both tables (tfjs's; serialised, so a model's seed reaches it). @default randomNormal(0, 0.02) */
  embeddingsInitializer?: unknown;
  /** Whether the tables train. @default true */
  trainable?: boolean;
  /** Set by tfjs when a layer is the first of a model. */
  inputShape?: tf.Shape;
  /** Set by tfjs when a layer is the first of a model. */
  batchInputShape?: tf.Shape;
  /** The input's dtype, for tfjs. */
  dtype?: tf.DataType;
}

/**
 * Token ids to embeddings (rank-2 input), or hidden states to tied logits
 * (rank-3 input).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { TokenEmbedding } from "./token_embedding.ts";
 * import assert from "node:assert/strict";
 * const layer = new TokenEmbedding({ vocabSize: 10, dModel: 4, maxLength: 6 });
 * const h = layer.apply(tf.tensor2d([[1, 2, 3]])) as tf.Tensor;
 * assert.deepEqual(h.shape, [1, 3, 4]);
 * assert.deepEqual((layer.apply(h) as tf.Tensor).shape, [1, 3, 10]);
 * ```
 */
export class TokenEmbedding extends tf.layers.Layer {
  /** The class name in serialised topologies. */
  static className = "TokenEmbedding";
  readonly vocabSize: number;
  readonly dModel: number;
  readonly maxLength: number;
  readonly dropout: number;
  /** A plain Embedding layer: it deserialises and holds the initializer. */
  readonly #inner: tf.layers.Layer;
  #tokens: tf.LayerVariable | null = null;
  #positions: tf.LayerVariable | null = null;
  /**
   * Flat positions (`row * T + t`) at which the tied output runs, set by a
   * trainer for one step: the output is then `[positions, vocabSize]`, the
   * logits at those positions only (a masked language model predicts 15% of
   * its positions, and the product with the vocabulary is most of a step).
   * Null: every position.
   */
  outputPositions: tf.Tensor1D | null = null;

  /**
   * Runs `run` with the tied output at `positions` only
   * ({@linkcode TokenEmbedding.outputPositions}), and sets it back to every
   * position afterwards, even when `run` throws.
   */
  outputAt<T>(positions: tf.Tensor1D, run: () => T): T {
    this.outputPositions = positions;
    try {
      return run();
    } finally {
      this.outputPositions = null;
    }
  }

  /** Creates the layer (its tables are made when it is built). */
  constructor(args: TokenEmbeddingArgs) {
    super(args as unknown as ConstructorParameters<typeof tf.layers.Layer>[0]);
    for (
      const [what, value] of Object.entries({
        vocabSize: args.vocabSize,
        dModel: args.dModel,
        maxLength: args.maxLength,
      })
    ) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(
          `Cannot build TokenEmbedding "${args.name}": ${what} must be an integer ≥ 1`,
        );
      }
    }
    const dropout = args.dropout ?? 0;
    if (!(dropout >= 0 && dropout < 1)) {
      throw new RangeError(`Cannot build TokenEmbedding "${args.name}": dropout must be in [0, 1)`);
    }
    this.vocabSize = args.vocabSize;
    this.dModel = args.dModel;
    this.maxLength = args.maxLength;
    this.dropout = dropout;
    this.#inner = tf.layers.embedding({
      inputDim: args.vocabSize,
      outputDim: args.dModel,
      embeddingsInitializer: (args.embeddingsInitializer ??
        tf.initializers.randomNormal({ mean: 0, stddev: 0.02 })) as Initializer,
    });
  }

  /** Makes the token table `[vocabSize, dModel]` and the position table `[maxLength, dModel]`. */
  override build(): void {
    const init = (this.#inner as unknown as { embeddingsInitializer: Initializer })
      .embeddingsInitializer;
    const table = (name: string, rows: number) =>
      this.addWeight(name, [rows, this.dModel], "float32", init, undefined, true);
    this.#tokens = table("token_embedding", this.vocabSize);
    this.#positions = table("position_embedding", this.maxLength);
    this.built = true;
  }

  /** Embeddings of token ids (rank 2), or tied logits of hidden states (rank 3). */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const table = this.#tokens!.read();
      if (x.rank === 3) {
        const [b, t] = x.shape as [number, number, number];
        const flat = x.reshape([b * t, this.dModel]) as tf.Tensor2D;
        if (this.outputPositions) {
          const picked = tf.gather(flat, this.outputPositions) as tf.Tensor2D;
          return tf.matMul(picked, table as tf.Tensor2D, false, true);
        }
        return tf.matMul(flat, table as tf.Tensor2D, false, true).reshape([b, t, this.vocabSize]);
      }
      const [, t] = x.shape as [number, number];
      if (t > this.maxLength) {
        throw new RangeError(
          `Cannot embed: ${t} positions, the model's maxLength is ${this.maxLength}`,
        );
      }
      const ids = tf.cast(x, "int32");
      const positions = tf.slice(this.#positions!.read(), [0, 0], [t, this.dModel]);
      const sum = tf.add(tf.gather(table, ids), positions);
      return kwargs.training && this.dropout > 0 ? tf.dropout(sum, this.dropout) : sum;
    });
  }

  /** `[b, T, dModel]` for ids, `[b, T, vocabSize]` for hidden states. */
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return shape.length === 3 ? [shape[0]!, shape[1]!, this.vocabSize] : [...shape, this.dModel];
  }

  /** The sizes, the dropout and the initializer. */
  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      vocabSize: this.vocabSize,
      dModel: this.dModel,
      maxLength: this.maxLength,
      dropout: this.dropout,
      embeddingsInitializer: this.#inner.getConfig().embeddingsInitializer ?? null,
    };
  }
}

tf.serialization.registerClass(TokenEmbedding);
