// Adam in one pass per weight on the wasm backend. tfjs's Adam runs about a
// dozen element-wise ops per weight and step, each a kernel call with its own
// output; on mnist-mlp that is a fifth of a wasm training step. This one runs
// the same float32 operations in the same order in one WebAssembly SIMD loop
// over the backend's heap (client/training/_simd_kernels.wat), so its results are bit
// for bit those of tf.train.adam (client/training/fused_adam_test.ts).
import * as tf from "@tensorflow/tfjs";
import { simdKernels, type WasmHeapBackend } from "./simd_kernels.ts";

/** A weight's name and tensor, as optimizers take gradients. */
type NamedTensor = { name: string; tensor: tf.Tensor };

const f32 = Math.fround;

/**
 * Adam (beta1 0.9, beta2 0.999, the backend's epsilon) whose update runs as
 * one SIMD kernel per weight on the wasm backend. Create it with
 * {@linkcode adamOptimizer}, which falls back to `tf.train.adam` elsewhere.
 */
class FusedAdamOptimizer extends tf.Optimizer {
  #learningRate: number;
  #beta1 = 0.9;
  #beta2 = 0.999;
  #epsilon: number;
  // beta^t, as the float32 values tfjs's Adam keeps in its accBeta variables.
  #accBeta1 = f32(0.9);
  #accBeta2 = f32(0.999);
  #moments = new Map<string, { m: tf.Tensor; v: tf.Tensor }>();
  /** Calls of the Adam kernel by this optimizer: one per weight and step. */
  kernelCalls = 0;

  /** Whether `optimizer` is one of these. */
  static isFused(optimizer: tf.Optimizer): optimizer is FusedAdamOptimizer {
    return #moments in optimizer;
  }

  constructor(learningRate: number) {
    super();
    this.#learningRate = learningRate;
    this.#epsilon = tf.backend().epsilon();
  }

  override applyGradients(grads: tf.NamedTensorMap | NamedTensor[]): void {
    const backend = tf.backend() as unknown as WasmHeapBackend;
    const kernels = simdKernels(backend);
    if (!kernels) throw new Error("Cannot step Adam: the wasm SIMD kernels are not loaded");
    const list = Array.isArray(grads)
      ? grads
      : Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
    const bc1 = f32(1 - this.#accBeta1);
    const bc2 = f32(1 - this.#accBeta2);
    const offset = (t: tf.TensorInfo) => backend.getMemoryOffset(t.dataId);
    for (const { name, tensor: gradient } of list) {
      if (gradient == null) continue;
      const value = tf.engine().registeredVariables[name];
      if (!value) throw new Error(`Cannot step Adam: no variable "${name}"`);
      if (gradient.dtype !== "float32" || gradient.size !== value.size) {
        throw new Error(`Cannot step Adam: the gradient of "${name}" does not match it`);
      }
      let moments = this.#moments.get(name);
      if (!moments) {
        moments = { m: tf.keep(tf.zerosLike(value)), v: tf.keep(tf.zerosLike(value)) };
        this.#moments.set(name, moments);
      }
      const out = backend.makeOutput(value.shape, "float32");
      this.kernelCalls++;
      kernels.adam(
        offset(value),
        offset(gradient),
        offset(moments.m),
        offset(moments.v),
        offset(out),
        value.size,
        f32(this.#beta1),
        f32(1 - this.#beta1),
        f32(this.#beta2),
        f32(1 - this.#beta2),
        bc1,
        bc2,
        f32(this.#epsilon),
        f32(-this.#learningRate),
      );
      const next = tf.engine().makeTensorFromTensorInfo(out);
      value.assign(next);
      next.dispose();
    }
    this.#accBeta1 = f32(this.#accBeta1 * f32(this.#beta1));
    this.#accBeta2 = f32(this.#accBeta2 * f32(this.#beta2));
    this.incrementIterations();
  }

  override dispose(): void {
    for (const { m, v } of this.#moments.values()) tf.dispose([m, v]);
    this.#moments.clear();
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.#learningRate, beta1: this.#beta1, beta2: this.#beta2 };
  }

  override getWeights(): Promise<NamedTensor[]> {
    return Promise.reject(new Error("FusedAdamOptimizer does not export its state"));
  }

  override setWeights(): Promise<void> {
    return Promise.reject(new Error("FusedAdamOptimizer does not import state"));
  }
}

/**
 * Adam with tfjs's defaults (beta1 0.9, beta2 0.999, the backend's epsilon):
 * one fused SIMD kernel per weight on the wasm backend, `tf.train.adam`
 * on every other backend. Both give the same float32 values.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { adamOptimizer } from "./_fused_adam.ts";
 * import assert from "node:assert/strict";
 * const w = tf.variable(tf.tensor1d([1, 2]));
 * const optimizer = adamOptimizer(0.1);
 * optimizer.minimize(() => tf.sum(tf.square(w)) as tf.Scalar, false, [w]);
 * assert.ok(w.dataSync()[0]! < 1);
 * optimizer.dispose();
 * ```
 */
export function adamOptimizer(learningRate: number): tf.Optimizer {
  return simdKernels() ? new FusedAdamOptimizer(learningRate) : tf.train.adam(learningRate);
}

/** Calls of the fused Adam kernel by `optimizer` (0 for tfjs's own Adam or another optimizer). */
export function fusedAdamCalls(optimizer: tf.Optimizer): number {
  // Not instanceof: tf.Optimizer answers it for any object shaped like an optimizer.
  return FusedAdamOptimizer.isFused(optimizer) ? optimizer.kernelCalls : 0;
}
