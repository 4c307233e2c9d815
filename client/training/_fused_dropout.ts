// Dropout masks drawn in one WebAssembly pass on the wasm backend. tfjs's
// dropout draws each uniform value in JavaScript (seedrandom's Alea), uploads
// them, then runs add, floor and div over them: about 1 ms per mnist-mlp
// layer and step. The kernel dropoutMultiplier (client/training/_simd_kernels.wat) runs
// the same Alea stream from the same seed and the same float32 operations, so
// the masks are bit for bit tfjs's own (client/training/fused_dropout_test.ts).
import * as tf from "@tensorflow/tfjs";
import { simdKernels, type WasmHeapBackend } from "./simd_kernels.ts";

/** seedrandom's Mash hash, as Alea seeds itself with it. */
function mash(): (data: string) => number {
  let n = 0xefc8249d;
  return (data: string) => {
    for (let i = 0; i < data.length; i++) {
      n += data.charCodeAt(i);
      let h = 0.02519603282416938 * n;
      n = h >>> 0;
      h -= n;
      h *= n;
      n = h >>> 0;
      h -= n;
      n += h * 0x100000000;
    }
    return (n >>> 0) * 2.3283064365386963e-10;
  };
}

/** The state of seedrandom's `alea(seed)` before its first draw. */
export function aleaState(seed: string): { s0: number; s1: number; s2: number; c: number } {
  const hash = mash();
  let s0 = hash(" ");
  let s1 = hash(" ");
  let s2 = hash(" ");
  s0 -= hash(seed);
  if (s0 < 0) s0 += 1;
  s1 -= hash(seed);
  if (s1 < 0) s1 += 1;
  s2 -= hash(seed);
  if (s2 < 0) s2 += 1;
  return { s0, s1, s2, c: 1 };
}

/**
 * `tf.dropout(x, rate)` (no noise shape, no seed: the seed comes from
 * `Math.random()` as in tfjs) with its mask drawn by the wasm kernel; null
 * where the kernels do not run (another backend), for the caller to use
 * tfjs's own dropout.
 */
export function wasmDropout(x: tf.Tensor, rate: number): tf.Tensor | null {
  const backend = tf.backend() as unknown as WasmHeapBackend;
  const kernels = simdKernels(backend);
  if (!kernels || x.dtype !== "float32" || !(rate > 0 && rate < 1)) return null;
  const { s0, s1, s2, c } = aleaState(Math.random().toString());
  const info = backend.makeOutput(x.shape, "float32");
  kernels.dropoutMultiplier(
    backend.getMemoryOffset(info.dataId),
    x.size,
    s0,
    s1,
    s2,
    c,
    Math.fround(1 - rate),
  );
  const multiplier = tf.engine().makeTensorFromTensorInfo(info);
  const out = tf.mul(x, multiplier);
  multiplier.dispose();
  return out;
}

interface DropoutLayer {
  rate: number;
  noiseShape: number[] | null;
  seed: number | undefined;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[];
  getClassName(): string;
}

const patched = new WeakSet<object>();
/** Masks the kernel drew for each model's dropout layers. */
const drawn = new WeakMap<object, { masks: number }>();

/**
 * How many dropout masks the wasm kernel has drawn for `model` (through
 * {@linkcode useWasmDropout}); 0 where it never ran.
 */
export function dropoutMasksDrawn(model: tf.LayersModel): number {
  return drawn.get(model)?.masks ?? 0;
}

/**
 * Makes the model's Dropout layers draw their masks with {@linkcode wasmDropout}
 * while the wasm backend runs (the same masks as before, faster); on any
 * other backend, or with a noise shape or a fixed seed, the layer's own call
 * runs. Idempotent.
 */
export function useWasmDropout(model: tf.LayersModel): void {
  if (!drawn.has(model)) drawn.set(model, { masks: 0 });
  const count = drawn.get(model)!;
  for (const layer of model.layers as unknown as DropoutLayer[]) {
    if (layer.getClassName() !== "Dropout" || patched.has(layer)) continue;
    patched.add(layer);
    const own = layer.call.bind(layer);
    layer.call = (inputs, kwargs) => {
      const input = Array.isArray(inputs) ? inputs : [inputs];
      if (
        kwargs?.training !== true || input.length !== 1 || layer.noiseShape != null ||
        layer.seed != null
      ) {
        return own(inputs, kwargs);
      }
      const fused = wasmDropout(input[0]!, layer.rate);
      if (!fused) return own(inputs, kwargs);
      count.masks++;
      return fused;
    };
  }
}
