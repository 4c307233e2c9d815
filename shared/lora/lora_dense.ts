/**
 * A Dense layer with a low-rank adapter (LoRA): `y = act(x W + b + s · drop(x) A B)`,
 * `s = alpha / rank`. The base kernel `W` and bias `b` are frozen (they keep
 * the names a Dense layer gives them, so pretrained weights load as they
 * are); `A` ([in, rank], seeded uniform) trains unless `trainA` is false
 * (FFA-LoRA), and `B` ([rank, out], zeros, so the layer starts as its base)
 * always trains. Registered with tfjs serialization as `LoraDense`, so a
 * topology served in /v1/task builds the same layer on every client.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The adapter's settings, as a LoraDense layer's config holds them. */
export interface LoraSettings {
  /** The adapter's rank r. */
  rank: number;
  /** Scale numerator: the adapter's product is multiplied by alpha / rank. */
  alpha: number;
  /** Dropout rate on the adapter's input while training. @default 0 */
  dropout?: number;
  /** Whether A trains (naive LoRA) or stays at its seeded init (FFA-LoRA). @default false */
  trainA?: boolean;
  /** Seed of A's initial values. @default 0 */
  seed?: number;
}

/** Arguments of {@linkcode LoraDense}: a Dense layer's, and the adapter's. */
export type LoraDenseArgs = Parameters<typeof tf.layers.dense>[0] & LoraSettings;

/** The Dense config fields a LoraDense layer keeps (and serialises). */
const DENSE_FIELDS = [
  "units",
  "activation",
  "useBias",
  "kernelInitializer",
  "biasInitializer",
  "kernelRegularizer",
  "biasRegularizer",
  "kernelConstraint",
  "biasConstraint",
] as const;

/**
 * A Dense layer with a LoRA adapter.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { LoraDense } from "./lora_dense.ts";
 * import assert from "node:assert/strict";
 * const layer = new LoraDense({ name: "d", units: 3, rank: 2, alpha: 4, inputShape: [5] });
 * const model = tf.sequential({ layers: [layer] });
 * assert.deepEqual(model.trainableWeights.map((w) => w.name), ["d/lora_B"]);
 * ```
 */
export class LoraDense extends tf.layers.Layer {
  /** The class name in serialised topologies. */
  static className = "LoraDense";
  readonly units: number;
  readonly rank: number;
  readonly alpha: number;
  readonly dropout: number;
  readonly trainA: boolean;
  readonly seed: number;
  readonly useBias: boolean;
  /** A plain Dense layer of the same settings: its initializers, activation and config. */
  readonly #dense: tf.layers.Layer;
  #kernel: tf.LayerVariable | null = null;
  #bias: tf.LayerVariable | null = null;
  #a: tf.LayerVariable | null = null;
  #b: tf.LayerVariable | null = null;

  /** Creates the layer (its weights are made when it is built). */
  constructor(args: LoraDenseArgs) {
    super(args);
    if (!Number.isInteger(args.rank) || args.rank < 1) {
      throw new RangeError(`Cannot build LoRA layer "${args.name}": rank must be an integer ≥ 1`);
    }
    if (!(args.alpha > 0)) {
      throw new RangeError(`Cannot build LoRA layer "${args.name}": alpha must be > 0`);
    }
    const dropout = args.dropout ?? 0;
    if (!(dropout >= 0 && dropout < 1)) {
      throw new RangeError(`Cannot build LoRA layer "${args.name}": dropout must be in [0, 1)`);
    }
    this.units = args.units;
    this.rank = args.rank;
    this.alpha = args.alpha;
    this.dropout = dropout;
    this.trainA = args.trainA ?? false;
    this.seed = args.seed ?? 0;
    this.useBias = args.useBias ?? true;
    const dense: Record<string, unknown> = {};
    for (const field of DENSE_FIELDS) {
      if (args[field] !== undefined) dense[field] = args[field];
    }
    this.#dense = tf.layers.dense(dense as unknown as LoraDenseArgs);
  }

  /** The scale of the adapter's product, alpha / rank. */
  get scale(): number {
    return this.alpha / this.rank;
  }

  /** Makes W and b (frozen), A (trains unless FFA) and B (trains). */
  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const inputs = shape[shape.length - 1];
    if (typeof inputs !== "number") {
      throw new RangeError(
        `Cannot build LoRA layer "${this.name}": the last input axis has no size`,
      );
    }
    const dense = this.#dense as unknown as {
      kernelInitializer: ReturnType<typeof tf.initializers.zeros>;
      biasInitializer: ReturnType<typeof tf.initializers.zeros>;
    };
    this.#kernel = this.addWeight(
      "kernel",
      [inputs, this.units],
      "float32",
      dense.kernelInitializer,
      undefined,
      false,
    );
    if (this.useBias) {
      this.#bias = this.addWeight(
        "bias",
        [this.units],
        "float32",
        dense.biasInitializer,
        undefined,
        false,
      );
    }
    // A as PEFT starts it (Kaiming uniform with a = sqrt(5): bound 1 / sqrt(in)), seeded.
    const bound = 1 / Math.sqrt(inputs);
    this.#a = this.addWeight(
      "lora_A",
      [inputs, this.rank],
      "float32",
      tf.initializers.randomUniform({ minval: -bound, maxval: bound, seed: this.seed }),
      undefined,
      this.trainA,
    );
    this.#b = this.addWeight(
      "lora_B",
      [this.rank, this.units],
      "float32",
      tf.initializers.zeros(),
      undefined,
      true,
    );
    this.built = true;
  }

  /** `act(x W + b + s · drop(x) A B)` over the last axis. */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const inputsSize = x.shape[x.shape.length - 1]!;
      const flat = x.reshape([-1, inputsSize]) as tf.Tensor2D;
      let y = tf.matMul(flat, this.#kernel!.read() as tf.Tensor2D);
      if (this.#bias) y = tf.add(y, this.#bias.read());
      const dropped = kwargs.training && this.dropout > 0 ? tf.dropout(flat, this.dropout) : flat;
      const low = tf.matMul(dropped, this.#a!.read() as tf.Tensor2D);
      y = tf.add(y, tf.mul(tf.matMul(low, this.#b!.read() as tf.Tensor2D), this.scale));
      const out = y.reshape([...x.shape.slice(0, -1), this.units]);
      const activation =
        (this.#dense as unknown as { activation: { apply(t: tf.Tensor): tf.Tensor } })
          .activation;
      return activation.apply(out);
    });
  }

  /** The input's shape with its last axis `units`. */
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [...shape.slice(0, -1), this.units];
  }

  /** The Dense settings and the adapter's. */
  override getConfig(): tf.serialization.ConfigDict {
    const dense = this.#dense.getConfig();
    const kept: tf.serialization.ConfigDict = {};
    for (const field of DENSE_FIELDS) if (dense[field] !== undefined) kept[field] = dense[field];
    return {
      ...super.getConfig(),
      ...kept,
      rank: this.rank,
      alpha: this.alpha,
      dropout: this.dropout,
      trainA: this.trainA,
      seed: this.seed,
    };
  }
}

tf.serialization.registerClass(LoraDense);
