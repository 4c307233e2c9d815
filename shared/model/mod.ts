/**
 * Models: building and reading tfjs models, frozen layers, the tfjs file
 * format and evaluation.
 * @module
 */
export * from "./evaluate.ts";
export * from "./freeze.ts";
export * from "./model.ts";
export * from "./tfjs_format.ts";
