// Speeds up transposed matrix products on the tfjs wasm backend.
//
// The wasm kernel for BatchMatMul is 10-20x slower when transposeA or
// transposeB is set (the backward pass of every dense layer sets one of
// them) than an explicit Transpose followed by a plain product. This wraps
// the registered kernel so transposes are done first. Measured by
// `deno task bench`.
import * as tf from "@tensorflow/tfjs";

let installed = false;

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Wraps the wasm BatchMatMul kernel once per process; a no-op afterwards. */
export function installWasmMatMulTranspose(): void {
  if (installed) return;
  const original = tf.getKernel("BatchMatMul", "wasm");
  const transpose = tf.getKernel("Transpose", "wasm");
  if (!original || !transpose) return;
  installed = true;
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel({
    ...original,
    kernelFunc(args: KernelArgs) {
      const attrs = args.attrs as { transposeA: boolean; transposeB: boolean };
      if (!attrs.transposeA && !attrs.transposeB) return original.kernelFunc(args);
      const inputs = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const temporary: tf.TensorInfo[] = [];
      const swapLast = (x: tf.TensorInfo): tf.TensorInfo => {
        const rank = x.shape.length;
        const perm = [...Array(rank).keys()];
        perm[rank - 2] = rank - 1;
        perm[rank - 1] = rank - 2;
        const out = transpose.kernelFunc({
          inputs: { x },
          backend: args.backend,
          attrs: { perm },
        }) as tf.TensorInfo;
        temporary.push(out);
        return out;
      };
      const a = attrs.transposeA ? swapLast(inputs.a) : inputs.a;
      const b = attrs.transposeB ? swapLast(inputs.b) : inputs.b;
      const out = original.kernelFunc({
        ...args,
        inputs: { a, b },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
      const backend = args.backend as tf.KernelBackend;
      for (const t of temporary) backend.disposeData(t.dataId);
      return out;
    },
  });
}
