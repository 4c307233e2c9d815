/**
 * Sequence tasks: the vocabulary that travels with a task, what a row of
 * tokens predicts (the next token, a tag at each position, or a class for
 * the whole sequence), and a task file's `model.transformer`.
 * @module
 */
import { z } from "zod";

/** The special tokens, at ids 0 to 4 of every vocabulary. */
const SPECIALS = ["[PAD]", "[UNK]", "[MASK]", "[BOS]", "[EOS]"];

/**
 * A word-level vocabulary as a task serves it (see `shared/tokenizer/`):
 * every token by id, the special tokens first, and the SHA-256 of its
 * contents, which clients check before they tokenize with it.
 */
export const VocabularySchema = z.strictObject({
  /** How text becomes words: `word` is the only kind. */
  kind: z.literal("word"),
  /** Whether text is lower-cased before it is split. */
  lowercase: z.boolean(),
  /** Every token by id: `[PAD]`, `[UNK]`, `[MASK]`, `[BOS]`, `[EOS]`, then the words. */
  tokens: z.array(z.string().min(1).max(200)).min(6).max(1 << 20).refine(
    (tokens) => SPECIALS.every((token, i) => tokens[i] === token),
    { message: `ids 0-4 must be ${SPECIALS.join(", ")}` },
  ),
  /** SHA-256 (hex) of kind, lowercase and tokens: the vocabulary's version. */
  hash: z.string().regex(/^[0-9a-f]{64}$/, "hash must be 64 hex digits (SHA-256)"),
});

/** What a row of tokens predicts. */
export const SEQUENCE_KINDS = [
  "language-model",
  "masked-language-model",
  "token-classification",
  "sequence-classification",
] as const;

/**
 * A task over token sequences: rows are `maxLength` token ids (0 padding).
 * `language-model`: the next token at each position (classes: the
 * vocabulary); `masked-language-model`: the original token at positions
 * masked afresh each step (BERT's 15%, 80/10/10; classes: the vocabulary);
 * both self-supervised, on any text; `token-classification`: one of the labels at each position
 * (`-1` for a position or a row without one); `sequence-classification`:
 * one of the labels for the row.
 */
export const SequenceInputSchema = z.strictObject({
  kind: z.enum(SEQUENCE_KINDS),
  /** Positions in a row: longer text is cut into windows, shorter padded. */
  maxLength: z.int().min(2).max(4096),
  vocabulary: VocabularySchema,
});

/**
 * A task file's `model.transformer`: a pre-LayerNorm transformer over the
 * task's sequences (`shared/transformer/model.ts` states the architecture
 * exactly). Its vocabulary and length come from `input.sequence`, its output
 * from the task's kind.
 */
export const TransformerConfigSchema = z.strictObject({
  /** Blocks. */
  layers: z.int().min(1).max(48).default(2),
  /** Width of the hidden states. */
  dModel: z.int().min(2).max(4096).default(128),
  /** Attention heads; they split dModel evenly. */
  heads: z.int().min(1).max(64).default(4),
  /** Width of each block's MLP. @default 4 × dModel */
  ffn: z.int().min(1).max(65536).optional(),
  /** Causal attention. @default true for a language model, else false */
  causal: z.boolean().optional(),
  /** Dropout on the embeddings, the attention probabilities and both residual branches. */
  dropout: z.number().min(0).lt(1).default(0.1),
  /** The output projection is the token embedding. @default true for a language model, else false */
  tied: z.boolean().optional(),
}).refine((t) => t.dModel % t.heads === 0, {
  message: "dModel must be a multiple of heads",
  path: ["heads"],
});

/** @see {@linkcode VocabularySchema} */
export type VocabularySpec = z.infer<typeof VocabularySchema>;
/** @see {@linkcode SequenceInputSchema} */
export type SequenceInput = z.infer<typeof SequenceInputSchema>;
/** One of {@linkcode SEQUENCE_KINDS}. */
export type SequenceKind = typeof SEQUENCE_KINDS[number];

/**
 * Whether a kind predicts tokens of the vocabulary (a language model, causal
 * or masked) rather than labels of its own.
 *
 * @example
 * ```ts
 * import { predictsTokens } from "./sequence.ts";
 * import assert from "node:assert/strict";
 * assert.equal(predictsTokens("masked-language-model"), true);
 * assert.equal(predictsTokens("token-classification"), false);
 * ```
 */
export function predictsTokens(kind: SequenceKind | undefined): boolean {
  return kind === "language-model" || kind === "masked-language-model";
}
/** @see {@linkcode TransformerConfigSchema} */
export type TransformerConfig = z.infer<typeof TransformerConfigSchema>;
