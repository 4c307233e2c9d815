/**
 * The word-level tokenizer that travels with a text task: its vocabulary,
 * versioned by a hash, and text to windows of ids with their padding mask.
 * @module
 */
export * from "./tokenizer.ts";
