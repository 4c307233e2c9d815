/**
 * Durable state: the storage interface, the run folder's implementation
 * (SQLite state, a spool of updates with group commit), checkpoints and final
 * exports, and fault injection for the crash test.
 * @module
 */
export * from "./checkpoint.ts";
export * from "./fault.ts";
export * from "./lora_export.ts";
export * from "./run_storage.ts";
export * from "./spool.ts";
export * from "./state_store.ts";
export * from "./storage.ts";
export * from "./strategy_state.ts";
