/**
 * Choosing and starting the tfjs backend of a browser client: `webgpu`, then
 * `webgl`, `wasm`, `cpu`, or the one the page is told to use.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { describeWasm } from "../training/simd_kernels.ts";
import "@tensorflow/tfjs-backend-webgpu";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { describeAdapter, type GpuLike } from "../training/gpu_adapter.ts";
import { installWasmKernels } from "../training/wasm_kernels.ts";
import { WEB_BACKENDS, type WebBackendName } from "./messages.ts";

export { WEB_BACKENDS, type WebBackendName };

/** What was started, and why the backends before it were passed over. */
export interface WebBackendInfo {
  /** The tfjs backend started. */
  name: WebBackendName;
  /** The device, where known: a WebGPU adapter or a WebGL renderer. */
  device: string | null;
  /** Backends tried before it, each with the reason it did not start. */
  skipped: { name: WebBackendName; reason: string }[];
}

/** Options of {@linkcode startWebBackend}. */
export interface StartWebBackendOptions {
  /** Use only this backend; if it cannot start, that is an error. @default try them in order */
  force?: WebBackendName;
  /** Where the tfjs wasm binaries are served (a URL ending in `/`). @default "./" */
  wasmPath?: string;
}

async function webGpuDevice(): Promise<string> {
  const gpu = (globalThis.navigator as { gpu?: GpuLike }).gpu;
  if (!gpu) throw new Error("this browser has no WebGPU (navigator.gpu is missing)");
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error("WebGPU has no adapter on this device");
  return describeAdapter(adapter);
}

/** The part of a WebGL context read here. */
interface GlContext {
  RENDERER: number;
  getExtension(name: string): { UNMASKED_RENDERER_WEBGL: number } | null;
  getParameter(name: number): unknown;
}

function webGlDevice(): string | null {
  try {
    const backend = tf.backend() as unknown as { gpgpu?: { gl?: GlContext } };
    const gl = backend.gpgpu?.gl;
    if (!gl) return null;
    const debug = gl.getExtension("WEBGL_debug_renderer_info");
    return String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  } catch {
    return null;
  }
}

async function tryStart(name: WebBackendName, wasmPath: string): Promise<string | null> {
  let device: string | null = null;
  if (name === "webgpu") device = await webGpuDevice();
  if (name === "wasm") setWasmPaths(wasmPath);
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (error) {
    throw new Error(error instanceof Error ? error.message : String(error));
  }
  if (!ok) throw new Error("tfjs could not initialise it");
  await tf.ready();
  if (name === "webgl") device = webGlDevice();
  if (name === "wasm") {
    installWasmKernels();
    device = describeWasm();
  }
  return device;
}

/**
 * Starts the first backend that works, in the order of
 * {@linkcode WEB_BACKENDS}, or only `force`. Forcing a backend that cannot
 * start is an error, never a silent fallback.
 *
 * @example
 * ```ts ignore
 * import { startWebBackend } from "./backend.ts";
 * const { name, device } = await startWebBackend({ wasmPath: "/client/" });
 * ```
 */
export async function startWebBackend(
  options: StartWebBackendOptions = {},
): Promise<WebBackendInfo> {
  const { force, wasmPath = "./" } = options;
  if (force !== undefined && !WEB_BACKENDS.includes(force)) {
    throw new TypeError(
      `Cannot start backend "${force}": expected one of ${WEB_BACKENDS.join(", ")}`,
    );
  }
  const skipped: WebBackendInfo["skipped"] = [];
  for (const name of force ? [force] : WEB_BACKENDS) {
    try {
      const device = await tryStart(name, wasmPath);
      return { name, device, skipped };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (force) throw new Error(`Cannot start backend "${name}": ${reason}`);
      skipped.push({ name, reason });
    }
  }
  throw new Error(
    `No tfjs backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join("; ")}`,
  );
}
