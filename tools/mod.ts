/**
 * Development tools: assembling the WebAssembly kernels (`deno task
 * build-kernels`).
 * @module
 */
export * from "./build_kernels.ts";
