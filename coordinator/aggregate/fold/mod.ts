/**
 * Folding updates into a round's sum as they arrive: the running sum in
 * float64 and its WebAssembly SIMD kernels.
 * @module
 */
export * from "./fold_kernels.ts";
export * from "./running_sum.ts";
