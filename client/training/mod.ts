/**
 * Local training: the R-Drop trainer, choosing a tfjs backend, and the fused
 * WebAssembly SIMD kernels (Adam, dropout masks, a transformer's layers and
 * the R-Drop loss) on the wasm backend.
 * @module
 */
export * from "./backend.ts";
export * from "./gpu_adapter.ts";
export * from "./simd_kernels.ts";
export * from "./trainer.ts";
export * from "./wasm_kernels.ts";
