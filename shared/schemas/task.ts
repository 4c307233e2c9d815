/**
 * The task: its model and where it comes from (built in, a topology, pretrained, with LoRA), its input, the task file, and GET /v1/task's answer.
 * @module
 */
import { z } from "zod";
import { PrivacySchema } from "../privacy/schema.ts";
import { SecureAggregationSchema } from "../secagg/settings.ts";
import {
  AggregationConfigSchema,
  RoundConfigSchema,
  TrainingConfigSchema,
  UpdateCodecSchema,
  UpdateLimitsSchema,
} from "./training.ts";
import { elementCount } from "../shape.ts";
import { predictsTokens, SequenceInputSchema, TransformerConfigSchema } from "./sequence.ts";

/** The model: a tfjs Layers topology (the `modelTopology` of a model.json). */
export const ModelSpecSchema = z.strictObject({
  /** tfjs Layers JSON, as `model.toJSON(null, false)` returns it. */
  topology: z.record(z.string(), z.unknown()),
  /** Seed of the initial weights. */
  seed: z.int().default(0),
});

/** How image files become a row: decoded, resized, channels, scaled. */
export const ImageInputSchema = z.strictObject({
  /** Width images are resized to. */
  width: z.int().min(1).max(4096),
  /** Height images are resized to. */
  height: z.int().min(1).max(4096),
  /** 1 for grey levels (the mean of R, G and B), 3 for RGB. */
  channels: z.union([z.literal(1), z.literal(3)]).default(1),
  /** Range the pixel values are scaled to. */
  scale: z.enum(["0,1", "-1,1"]).default("0,1"),
  /** Whether to use 1 - value (dark ink on light paper to the MNIST convention). */
  invert: z.boolean().default(false),
});

/** How text becomes a row: hashed token ids, padded or cut to a length. */
export const TextInputSchema = z.strictObject({
  /** Token ids are in [1, vocabSize); 0 is padding. */
  vocabSize: z.int().min(2).max(1 << 24),
  /** Tokens per row; longer texts are cut, shorter ones padded with 0. */
  maxLength: z.int().min(1).max(65536),
  /** Whether text is lower-cased before tokenizing. */
  lowercase: z.boolean().default(true),
});

/** What one row of data looks like, and how files become rows. */
export const InputSpecSchema = z.strictObject({
  /** Shape of one row's features, as the model takes it. */
  shape: z.array(z.int().min(1)).min(1),
  /**
   * Names of the classes, in label index order (at least 2); none for a
   * language model, whose classes are its vocabulary's tokens.
   */
  labels: z.array(z.string().min(1)).refine((l) => new Set(l).size === l.length, {
    message: "label names must be distinct",
  }).default([]),
  /** Rows come from image files. @default none */
  image: ImageInputSchema.optional(),
  /** Rows come from text. @default none */
  text: TextInputSchema.optional(),
  /** Rows are token sequences over the task's vocabulary. @default none */
  sequence: SequenceInputSchema.optional(),
}).superRefine((input, ctx) => {
  const size = elementCount(input.shape);
  const kinds = [input.image && "image", input.text && "text", input.sequence && "sequence"]
    .filter(Boolean);
  if (kinds.length > 1) {
    ctx.addIssue({ code: "custom", message: `give one of ${kinds.join(" and ")}`, path: [] });
  }
  const model = predictsTokens(input.sequence?.kind);
  if (model && input.labels.length > 0) {
    ctx.addIssue({
      code: "custom",
      path: ["labels"],
      message: "a language model's classes are its vocabulary: give no labels",
    });
  } else if (!model && input.labels.length < 2) {
    ctx.addIssue({ code: "custom", path: ["labels"], message: "give at least 2 labels" });
  }
  if (input.sequence && (input.shape.length !== 1 || input.shape[0] !== input.sequence.maxLength)) {
    ctx.addIssue({
      code: "custom",
      path: ["shape"],
      message: `a sequence task's shape is [maxLength], [${input.sequence.maxLength}]`,
    });
  }
  if (input.image) {
    const { width, height, channels } = input.image;
    if (width * height * channels !== size) {
      ctx.addIssue({
        code: "custom",
        path: ["image"],
        message:
          `${width}x${height}x${channels} pixels do not fill shape [${input.shape}] (${size} values)`,
      });
    }
  }
  if (input.text && input.text.maxLength !== size) {
    ctx.addIssue({
      code: "custom",
      path: ["text", "maxLength"],
      message:
        `maxLength ${input.text.maxLength} does not equal the ${size} values of shape [${input.shape}]`,
    });
  }
});

/** The task as configured: everything but the run's state. */
export const TaskConfigSchema = z.strictObject({
  /** Identifier of the task. */
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/),
  model: ModelSpecSchema,
  input: InputSpecSchema,
  training: TrainingConfigSchema.default(TrainingConfigSchema.parse({})),
  rounds: RoundConfigSchema.default(RoundConfigSchema.parse({})),
  aggregation: AggregationConfigSchema.default(AggregationConfigSchema.parse({})),
  /** How the coordinator fine-tunes on labeled rows it holds after each round (if it holds any). */
  serverTraining: TrainingConfigSchema.optional(),
  /** Codec of updates on the wire (announced in GET /v1/task). */
  codec: UpdateCodecSchema.default(UpdateCodecSchema.parse({})),
  /** Bounds on each update. */
  updates: UpdateLimitsSchema.default(UpdateLimitsSchema.parse({})),
  /** Secure aggregation: clients send masked inputs, the coordinator unmasks only their sum. */
  secureAggregation: SecureAggregationSchema.optional(),
  /** Client-level differential privacy, with epsilon reported each round. */
  privacy: PrivacySchema.optional(),
});

/**
 * Fine-tuning with low-rank adapters (LoRA): the target layers get an
 * adapter `(alpha / rank) A B`, all other weights freeze, and only the
 * adapters train and travel.
 */
export const LoraConfigSchema = z.strictObject({
  /** The adapters' rank r. */
  rank: z.int().min(1).max(1024),
  /** The scale's numerator: products are multiplied by alpha / rank. @default 2 × rank */
  alpha: z.number().positive().optional(),
  /** Dropout on each adapter's input while training (so R-Drop's twins differ there too). */
  dropout: z.number().min(0).lt(1).default(0),
  /** Layer names or globs (`*`, `?`) of the Dense layers that get adapters. */
  targets: z.array(z.string().min(1)).min(1),
  /**
   * Layer names or globs of layers trained in full beside the adapters (PEFT's
   * `modules_to_save`), such as a classifier head whose classes are new. They
   * travel whole, so keep them small. @default none
   */
  modulesToSave: z.array(z.string().min(1)).default([]),
  /**
   * `ffa` (FFA-LoRA): A stays at its seeded init on every client and only B
   * trains, so FedAvg of B is FedAvg of the products exactly; `naive`: A and B
   * both train and are averaged apart (the mean of products is then missed).
   */
  aggregation: z.enum(["ffa", "naive"]).default("ffa"),
}).transform((l) => ({ ...l, alpha: l.alpha ?? 2 * l.rank }));

/** A task file's `model.lora`, with its defaults filled in. */
export type LoraConfig = z.infer<typeof LoraConfigSchema>;

/** Names of the built-in models. */
export const BUILTIN_MODELS = [
  "mnist-mlp",
  "mnist-cnn",
  "spam-text",
  "brown-lm",
  "brown-pos",
  "spam-transformer",
] as const;

/** Where a task file's model comes from, and which of its layers train. */
export const ModelSourceSchema = z.strictObject({
  /** A built-in model by name. */
  builtin: z.enum(BUILTIN_MODELS).optional(),
  /** A tfjs Layers topology (the `modelTopology` of a model.json). */
  topology: z.record(z.string(), z.unknown()).optional(),
  /** A transformer over the task's `input.sequence` (see {@linkcode TransformerConfigSchema}). */
  transformer: TransformerConfigSchema.optional(),
  /** A pretrained tfjs model: a folder holding model.json, a model.json path, or an http(s) URL of one. */
  pretrained: z.string().min(1).optional(),
  /** Initial weights as a safetensors file (names as tfjs names the weights). */
  weights: z.string().min(1).optional(),
  /** Seed of the initial weights where no weights are given. */
  seed: z.int().default(0),
  /** Layer names or glob patterns (`*`, `?`) of the layers that train; all others are frozen. */
  trainable: z.array(z.string().min(1)).min(1).optional(),
  /** Layer names or glob patterns of layers that stay frozen. */
  frozen: z.array(z.string().min(1)).min(1).optional(),
  /** Low-rank adapters on the `targets` layers; everything else freezes. */
  lora: LoraConfigSchema.optional(),
}).superRefine((m, ctx) => {
  if (m.lora && (m.trainable || m.frozen)) {
    ctx.addIssue({
      code: "custom",
      message: "lora freezes every layer but its adapters: give it without trainable or frozen",
      path: ["lora"],
    });
  }
  const sources = [m.builtin, m.topology, m.transformer, m.pretrained]
    .filter((x) => x !== undefined).length;
  if (sources !== 1) {
    ctx.addIssue({
      code: "custom",
      message: "give exactly one of builtin, topology, transformer and pretrained",
    });
  }
  if (m.trainable && m.frozen) {
    ctx.addIssue({
      code: "custom",
      message: "give trainable or frozen, not both",
      path: ["frozen"],
    });
  }
});

/**
 * A task file (JSON or YAML): the model's source, the input, the training and
 * round settings, and the holdout data. Paths are relative to the file.
 */
export const TaskFileSchema = z.strictObject({
  id: z.string().regex(
    /^[a-z0-9][a-z0-9._-]{0,63}$/,
    "id must be 1-64 of [a-z0-9._-], starting with a letter or digit",
  ),
  model: ModelSourceSchema,
  /** Required unless the model is built in. */
  input: InputSpecSchema.optional(),
  training: TrainingConfigSchema.optional(),
  rounds: RoundConfigSchema.optional(),
  aggregation: AggregationConfigSchema.optional(),
  codec: UpdateCodecSchema.optional(),
  updates: UpdateLimitsSchema.optional(),
  secureAggregation: SecureAggregationSchema.optional(),
  privacy: PrivacySchema.optional(),
  /** Labeled rows to evaluate on: a data file or folder in the input's format. */
  holdout: z.string().min(1).optional(),
  /** Labeled rows the coordinator fine-tunes on after each round (labels at the server). */
  serverData: z.string().min(1).optional(),
  /** How the coordinator fine-tunes on `serverData` (R-Drop on its labeled rows). */
  serverTraining: TrainingConfigSchema.optional(),
  /**
   * Labeled rows that `deno task simulate --task FILE` spreads over its
   * simulated clients (hiding all labels but `--labeled` of them); a
   * coordinator does not read it.
   */
  trainData: z.string().min(1).optional(),
}).refine((f) => (f.serverData === undefined) === (f.serverTraining === undefined), {
  message: "give serverData and serverTraining together",
  path: ["serverData"],
});

/** Phases of a run: `paused` and `stopped` are set by an admin. */
export const PhaseSchema = z.enum(["training", "aggregating", "paused", "finished", "stopped"]);

/** GET /v1/task: the task spec and where the run stands. */
export const TaskResponseSchema = TaskConfigSchema.extend({
  round: z.int().min(1),
  version: z.int().min(0),
  phase: PhaseSchema,
  /** The tensors an update carries, in order. */
  weights: z.array(z.strictObject({ name: z.string(), shape: z.array(z.int().min(0)) })),
  /**
   * Whether large updates can be sent as resumable uploads (tus 1.0, at
   * /v1/uploads; then POST /v1/updates with `{"upload": id}`): the
   * coordinator has a run folder to keep them in.
   */
  resumableUploads: z.boolean().optional(),
});

/**
 * How many classes a task's model outputs: its labels, or for a language
 * model its vocabulary's tokens.
 *
 * @example
 * ```ts
 * import { classCount } from "./task.ts";
 * import assert from "node:assert/strict";
 * assert.equal(classCount({ labels: ["no", "yes"] }), 2);
 * ```
 */
export function classCount(input: Pick<InputSpec, "labels" | "sequence">): number {
  return predictsTokens(input.sequence?.kind)
    ? input.sequence!.vocabulary.tokens.length
    : input.labels.length;
}

/**
 * The shape of one row's labels: one a position for a language model or
 * token classification, one a row otherwise.
 *
 * @example
 * ```ts
 * import { labelShapeOf } from "./task.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(labelShapeOf({ shape: [784] }), []);
 * ```
 */
export function labelShapeOf(input: Pick<InputSpec, "shape" | "sequence">): number[] {
  const kind = input.sequence?.kind;
  return predictsTokens(kind) || kind === "token-classification" ? [...input.shape] : [];
}

/** @see {@linkcode ImageInputSchema} */
export type ImageInput = z.infer<typeof ImageInputSchema>;
/** @see {@linkcode TextInputSchema} */
export type TextInput = z.infer<typeof TextInputSchema>;
/** @see {@linkcode InputSpecSchema} */
export type InputSpec = z.infer<typeof InputSpecSchema>;
/** @see {@linkcode ModelSourceSchema} */
export type ModelSource = z.infer<typeof ModelSourceSchema>;
/** @see {@linkcode TaskFileSchema} */
export type TaskFile = z.infer<typeof TaskFileSchema>;
/** @see {@linkcode TaskConfigSchema} */
export type TaskConfig = z.infer<typeof TaskConfigSchema>;
/** Input of {@linkcode TaskConfigSchema}: the task file, with defaults left out. */
export type TaskConfigInput = z.input<typeof TaskConfigSchema>;
/** @see {@linkcode TaskResponseSchema} */
export type TaskResponse = z.infer<typeof TaskResponseSchema>;
/** @see {@linkcode PhaseSchema} */
export type Phase = z.infer<typeof PhaseSchema>;
