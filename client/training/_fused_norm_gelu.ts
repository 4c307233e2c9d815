// Layer norm and GELU as single WebAssembly SIMD passes on the wasm backend,
// forward and backward (client/training/_simd_kernels.wat). tfjs's
// LayerNormalization tiles gamma, beta, the mean and the variance to the
// input's shape, and the gradient of a tile is one slice and one add per
// tiled row: about 4,000 kernel calls per layer norm and step of the
// benchmark transformer, three quarters of a step. GELU's tanh
// approximation is ten element-wise ops forward (Pow among them, slow on
// wasm) and more backward; here it is one pass each way.
import * as tf from "@tensorflow/tfjs";
import { simdKernels, type TransformerKernels, type WasmHeapBackend } from "./simd_kernels.ts";

/** The wasm backend and its transformer kernels, or null where they cannot run. */
export function wasmTransformerKernels(): {
  backend: WasmHeapBackend;
  kernels: TransformerKernels;
  offset: (t: tf.TensorInfo) => number;
  output: (shape: number[]) => tf.TensorInfo;
  tensor: (info: tf.TensorInfo) => tf.Tensor;
} | null {
  const backend = tf.backend() as unknown as WasmHeapBackend;
  const found = simdKernels(backend);
  if (!found) return null;
  return {
    backend,
    kernels: found.transformer,
    offset: (t) => backend.getMemoryOffset(t.dataId),
    output: (shape) => backend.makeOutput(shape, "float32"),
    tensor: (info) => tf.engine().makeTensorFromTensorInfo(info),
  };
}

/**
 * Layer norm over the last axis, `(x - mean) / sqrt(var + epsilon) * gamma +
 * beta`, with its gradient, by the wasm kernels; null where they cannot run
 * (another backend, or a last axis that is not a multiple of 4), for the
 * caller to use tfjs's ops.
 */
export function wasmLayerNorm(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): tf.Tensor | null {
  const d = x.shape[x.rank - 1] ?? 0;
  if (x.dtype !== "float32" || d % 4 !== 0 || gamma.size !== d || beta.size !== d) return null;
  const wasm = wasmTransformerKernels();
  if (!wasm) return null;
  const { kernels, offset, output, tensor } = wasm;
  const rows = x.size / d;
  const op = tf.customGrad((...args: unknown[]) => {
    const [x, gamma, beta, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const out = output(x.shape);
    const stats = output([rows, 2]);
    kernels.layerNormForward(
      offset(x),
      offset(gamma),
      offset(beta),
      offset(out),
      offset(stats),
      rows,
      d,
      epsilon,
    );
    const saved = tensor(stats);
    save([x, gamma, saved]);
    return {
      value: tensor(out),
      gradFunc: (dy: tf.Tensor, [x, gamma, stats]: tf.Tensor[]) => {
        const dx = output(x!.shape);
        const dgamma = output(gamma!.shape);
        const dbeta = output(gamma!.shape);
        kernels.layerNormBackward(
          offset(dy),
          offset(x!),
          offset(gamma!),
          offset(stats!),
          offset(dx),
          offset(dgamma),
          offset(dbeta),
          rows,
          d,
        );
        return [tensor(dx), tensor(dgamma), tensor(dbeta)];
      },
    };
  });
  return op(x, gamma, beta);
}

/**
 * GELU, tanh approximation, `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715
 * x^3)))`, with its gradient, by the wasm kernels; null where they cannot run.
 */
export function wasmGelu(x: tf.Tensor): tf.Tensor | null {
  if (x.dtype !== "float32") return null;
  const wasm = wasmTransformerKernels();
  if (!wasm) return null;
  const { kernels, offset, output, tensor } = wasm;
  const op = tf.customGrad((...args: unknown[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const out = output(x.shape);
    kernels.geluForward(offset(x), offset(out), x.size);
    save([x]);
    return {
      value: tensor(out),
      gradFunc: (dy: tf.Tensor, [x]: tf.Tensor[]) => {
        const dx = output(x!.shape);
        kernels.geluBackward(offset(x!), offset(dy), offset(dx), x!.size);
        return tensor(dx);
      },
    };
  });
  return op(x);
}
