/**
 * Choosing and starting the tfjs backend of a client.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import {
  installWasmConv2DBackpropFilter,
  installWasmGather,
  installWasmMatMulTranspose,
  installWasmUnsortedSegmentSum,
} from "./_wasm_kernels.ts";

/** Backends a client can be forced to use. */
export const BACKENDS = ["wasm", "cpu", "webgpu"] as const;

/** One of {@linkcode BACKENDS}. */
export type BackendName = typeof BACKENDS[number];

/** What was started. */
export interface BackendInfo {
  /** The tfjs backend name. */
  name: BackendName;
  /** The device, where known (a WebGPU adapter's description). */
  device: string | null;
}

function wasmDirectory(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve("@tensorflow/tfjs-backend-wasm")) + "/";
}

async function startWebGpu(): Promise<string> {
  const gpu = (globalThis.navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) throw new Error('Cannot start backend "webgpu": this runtime has no navigator.gpu');
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    throw new Error(
      'Cannot start backend "webgpu": no WebGPU adapter (on Linux install a Vulkan driver, e.g. mesa-vulkan-drivers)',
    );
  }
  await import("@tensorflow/tfjs-backend-webgpu");
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  return [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(" ") ||
    "unknown adapter";
}

/**
 * Starts a tfjs backend: `wasm` (the default, fastest on CPUs), `cpu`, or
 * `webgpu`. Forcing a backend that cannot start is an error, never a silent
 * fallback.
 *
 * @example
 * ```ts
 * import { startBackend } from "./backend.ts";
 * import assert from "node:assert/strict";
 * assert.equal((await startBackend("cpu")).name, "cpu");
 * ```
 */
export async function startBackend(name: BackendName = "wasm"): Promise<BackendInfo> {
  if (!BACKENDS.includes(name)) {
    throw new TypeError(`Cannot start backend "${name}": expected one of ${BACKENDS.join(", ")}`);
  }
  let device: string | null = null;
  if (name === "wasm") setWasmPaths(wasmDirectory());
  if (name === "webgpu") device = await startWebGpu();
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`Cannot start backend "${name}": tfjs could not initialise it`);
  await tf.ready();
  if (name === "wasm") {
    installWasmMatMulTranspose();
    installWasmConv2DBackpropFilter();
    installWasmGather();
    installWasmUnsortedSegmentSum();
  }
  return { name, device };
}
