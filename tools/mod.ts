/**
 * Development tools: assembling the WebAssembly kernels (`deno task
 * build-kernels`), headless Chromium for the browser tests and benchmarks,
 * and the Brown corpus as client data files (`deno task brown-data`).
 * @module
 */
export * from "./build_kernels.ts";
export * from "./chromium.ts";
