/**
 * Secure aggregation at the coordinator: one SecAgg+ round as named stages
 * over its events, and a secure task's settings.
 * @module
 */
export * from "./secure_events.ts";
export * from "./secure_round.ts";
export * from "./secure_task.ts";
