// Paths of the wasm backend's kernels that the benchmark transformer
// (bench/_transformer.ts) showed to be slow, installed by
// client/training/wasm_kernels.ts:
// - BatchMatMul with transposeA alone and no batch (a dense layer's weight
//   gradient xᵀ dy): one SIMD kernel that reads x in place
//   (client/training/_matmul_kernels.wat) rather than a transpose and a
//   product, 25-30 GFLOP/s against 15.
// - Sum over every axis but the last (a bias's gradient): the wasm kernel
//   transposes the input to reduce its last axis (9 ms for 2,048 x 512); a
//   SIMD column sum takes 0.5 ms.
// - Identity (tf.clone, which the tape calls on every tensor it saves for the
//   backward pass) copies the values on wasm; here it shares them, counting a
//   reference, as the wasm Reshape and the cpu backend's Identity do.
import * as tf from "@tensorflow/tfjs";
import { elementCount } from "../../shared/shape.ts";
import { simdKernels, type WasmHeapBackend } from "./simd_kernels.ts";

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Rows of K of the transposed product per kernel call, so that both strips stay in cache. */
const K_BLOCK = 512;

/**
 * `aᵀ b` for float32 a `[..., k, m]` and b `[..., k, n]` without batch (outer
 * dimensions all 1), m and n multiples of 4, by the SIMD kernel; null
 * otherwise.
 */
export function productTN(
  backend: unknown,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
): tf.TensorInfo | null {
  const kernels = simdKernels(backend)?.transformer;
  if (!kernels || a.dtype !== "float32" || b.dtype !== "float32") return null;
  const [k, m] = a.shape.slice(-2) as [number, number];
  const n = b.shape.at(-1)!;
  const outer = (x: tf.TensorInfo) => elementCount(x.shape.slice(0, -2));
  if (a.shape.length < 2 || b.shape.length < 2 || b.shape.at(-2) !== k) return null;
  if (outer(a) !== 1 || outer(b) !== 1 || m % 4 !== 0 || n % 4 !== 0) return null;
  const heap = backend as WasmHeapBackend;
  const dims = tf.backend_util.assertAndGetBroadcastShape(
    a.shape.slice(0, -2),
    b.shape.slice(0, -2),
  );
  const out = heap.makeOutput([...dims, m, n], "float32");
  const [pa, pb, pc] = [a, b, out].map((x) => heap.getMemoryOffset(x.dataId)) as [
    number,
    number,
    number,
  ];
  for (let p = 0; p < k || p === 0; p += K_BLOCK) {
    const rows = Math.min(K_BLOCK, k - p);
    kernels.gemmTN(pa + p * m * 4, m, pb + p * n * 4, n, pc, n, m, n, rows, p > 0 ? 1 : 0);
  }
  return out;
}

let columnSumInstalled = false;

/**
 * Wraps the wasm Sum kernel once per process so that a float32 sum over
 * every axis but the last (a last axis a multiple of 4) is one SIMD column
 * sum; other sums run the original kernel.
 */
export function installWasmColumnSum(): void {
  const original = tf.getKernel("Sum", "wasm");
  if (columnSumInstalled || !original) return;
  columnSumInstalled = true;
  tf.unregisterKernel("Sum", "wasm");
  tf.registerKernel({
    ...original,
    kernelFunc(args: KernelArgs) {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
      const kernels = simdKernels(args.backend)?.transformer;
      const rank = x.shape.length;
      const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
      const cols = x.shape[rank - 1] ?? 0;
      if (
        !kernels || x.dtype !== "float32" || rank < 2 || cols % 4 !== 0 ||
        axes.length !== rank - 1 || axes.some((a, i) => a !== i)
      ) {
        return original.kernelFunc(args);
      }
      const heap = args.backend as unknown as WasmHeapBackend;
      const out = heap.makeOutput(
        keepDims ? [...Array(rank - 1).fill(1), cols] : [cols],
        "float32",
      );
      kernels.columnSum(
        heap.getMemoryOffset(x.dataId),
        heap.getMemoryOffset(out.dataId),
        elementCount(x.shape) / Math.max(cols, 1),
        cols,
      );
      return out;
    },
  });
}

let identityInstalled = false;

/** Replaces the wasm Identity kernel once per process with one that shares its input's memory. */
export function installWasmIdentity(): void {
  const original = tf.getKernel("Identity", "wasm");
  if (identityInstalled || !original) return;
  identityInstalled = true;
  tf.unregisterKernel("Identity", "wasm");
  tf.registerKernel({
    ...original,
    kernelFunc(args: KernelArgs) {
      const { x } = args.inputs as { x: tf.TensorInfo };
      if (x.dtype === "string") return original.kernelFunc(args);
      (args.backend as unknown as { incRef(dataId: unknown): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    },
  });
}
