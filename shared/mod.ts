/**
 * What the coordinator, clients and simulation share: the API's schemas, the
 * wire formats, data and models, the R-Drop loss, seeded randomness, CLI
 * flags, and secure aggregation, privacy, LoRA, preprocessing and built-in
 * tasks in their folders.
 * @module
 */
export * from "./cli.ts";
export * from "./random.ts";
export * from "./rdrop_loss.ts";
export * from "./runtime.ts";
