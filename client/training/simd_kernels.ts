// Loads client/training/_simd_kernels.wat (embedded in _simd_kernels_wasm.ts) against
// the tfjs wasm backend's own heap, once per heap.
import * as tf from "@tensorflow/tfjs";
import { SIMD_KERNELS_BASE64 } from "./_simd_kernels_wasm.ts";

/** One Adam step over n values; see _simd_kernels.wat. */
export type AdamKernel = (
  w: number,
  g: number,
  m: number,
  v: number,
  out: number,
  n: number,
  b1: number,
  c1: number,
  b2: number,
  c2: number,
  bc1: number,
  bc2: number,
  eps: number,
  nlr: number,
) => void;

/** tf.dropout's multiplier for n values from an Alea state; see _simd_kernels.wat. */
export type DropoutMultiplierKernel = (
  out: number,
  n: number,
  s0: number,
  s1: number,
  s2: number,
  c: number,
  keep: number,
) => void;

/** The kernels, bound to one wasm heap. */
export interface SimdKernels {
  adam: AdamKernel;
  dropoutMultiplier: DropoutMultiplierKernel;
}

/** What this module needs of tfjs-backend-wasm's BackendWasm. */
export interface WasmHeapBackend {
  wasm?: { asm?: { memory?: unknown } };
  getMemoryOffset(dataId: unknown): number;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

const instances = new WeakMap<WebAssembly.Memory, SimdKernels | null>();

/**
 * The SIMD kernels bound to the wasm backend's heap, or null where they
 * cannot run (another backend, or a WebAssembly without SIMD).
 */
export function simdKernels(backend: unknown = tf.backend()): SimdKernels | null {
  const memory = (backend as WasmHeapBackend).wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  if (!instances.has(memory)) {
    let kernels: SimdKernels | null = null;
    try {
      const bytes = Uint8Array.from(atob(SIMD_KERNELS_BASE64), (c) => c.charCodeAt(0));
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
        env: { memory },
      });
      kernels = {
        adam: instance.exports.adam as AdamKernel,
        dropoutMultiplier: instance.exports.dropoutMultiplier as DropoutMultiplierKernel,
      };
    } catch {
      kernels = null; // no WebAssembly SIMD here: tfjs's own ops run instead
    }
    instances.set(memory, kernels);
  }
  return instances.get(memory) ?? null;
}

/**
 * The wasm backend's device, in words: "WebAssembly SIMD" where the SIMD
 * kernels run (so Adam and the dropout masks are fused), else "WebAssembly".
 */
export function describeWasm(backend: unknown = tf.backend()): string {
  return simdKernels(backend) ? "WebAssembly SIMD" : "WebAssembly";
}
