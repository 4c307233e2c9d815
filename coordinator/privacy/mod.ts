/**
 * Differential privacy at the coordinator: a task's privacy settings, checked
 * and resolved.
 * @module
 */
export * from "./privacy_task.ts";
