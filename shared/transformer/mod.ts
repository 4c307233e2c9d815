/**
 * A small transformer for sequences: registered tfjs layers (token and
 * position embeddings that double as the tied output, multi-head attention
 * with causal and padding masks, masked mean pooling) and the pre-LayerNorm
 * model built from them, whose architecture `model.ts` writes out exactly.
 * @module
 */
export * from "./attention.ts";
export * from "./gelu.ts";
export * from "./model.ts";
export * from "./pool.ts";
export * from "./token_embedding.ts";
export * from "./spec_of_topology.ts";
