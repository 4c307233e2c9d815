/**
 * Closing a round, private to the federation: its stages (collect, aggregate,
 * privacy, next global, commit, apply), the running sum, the round's outputs
 * and pure helpers.
 * @module
 */
export * from "./close.ts";
export * from "./outputs.ts";
export * from "./parts.ts";
export * from "./sum.ts";
