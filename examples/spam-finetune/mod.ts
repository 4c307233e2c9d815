/**
 * A worked example: a spam classifier pretrained on part of the corpus, then
 * LoRA adapters fine-tuned federated on the rest (`deno task finetune-text`).
 * See docs/fine-tuning.md.
 * @module
 */
export {};
