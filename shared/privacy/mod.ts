/**
 * Differential privacy: its settings, the Gaussian mechanism and the RDP
 * accountant.
 * @module
 */
export * from "./accountant.ts";
export * from "./mechanism.ts";
export * from "./schema.ts";
