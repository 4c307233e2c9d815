/**
 * Wire formats: safetensors, and the update codecs (f32, f16, int8, top-k)
 * inside it.
 * @module
 */
export * from "./codec.ts";
export * from "./numeric.ts";
export * from "./safetensors.ts";
export * from "./safetensors_types.ts";
