// Kernels that the tfjs wasm backend lacks or runs slowly, so that training
// on wasm is fast and convolutions can train at all.
//
// 1. BatchMatMul: the wasm kernel for BatchMatMul is 10-20x slower when transposeA or
// transposeB is set (the backward pass of every dense layer sets one of
// them) than an explicit Transpose followed by a plain product. This wraps
// the registered kernel so transposes are done first. Measured by
// `deno task bench`.
// 2. Conv2DBackpropFilter (the gradient of a convolution's filter) is not
// registered for wasm. With stride 1 it is computed by the wasm
// Conv3DBackpropFilterV2 kernel on the tensors seen as 3-d with a depth of 1;
// that kernel gives wrong results for strides above 1 (tfjs-backend-wasm
// 4.22.0), so those are computed by plain loops over the values.
// 3. UnsortedSegmentSum (the gradient of an Embedding layer's gather) is not
// registered for wasm; it is a ScatterNd, which adds rows that share an id.
// 4. GatherV2: the wasm kernel copies element by element (about 6 ms for 96
// rows of 784 values, which is a fifth of an R-Drop step on mnist-mlp); this
// one copies whole slices between views of the wasm heap (0.1 ms).
// 5.-7. With transposeA alone and no batch (a dense layer's weight gradient),
// a product reads its operand in place; a sum over every axis but the last
// (a bias's gradient) is a SIMD column sum; Identity shares its input's
// memory rather than copying it (client/training/_wasm_fast_paths.ts).
import * as tf from "@tensorflow/tfjs";
import { elementCount } from "../../shared/shape.ts";
import { installWasmColumnSum, installWasmIdentity, productTN } from "./_wasm_fast_paths.ts";

let installed = false;

/** Installs every kernel of this module (once per process). */
export function installWasmKernels(): void {
  installWasmMatMulTranspose();
  installWasmConv2DBackpropFilter();
  installWasmGather();
  installWasmUnsortedSegmentSum();
  installWasmColumnSum();
  installWasmIdentity();
}

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
      if (!attrs.transposeB) {
        const out = productTN(args.backend, inputs.a, inputs.b);
        if (out) return out;
      }
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

let convInstalled = false;

/** Registers Conv2DBackpropFilter for wasm once per process; a no-op afterwards. */
export function installWasmConv2DBackpropFilter(): void {
  if (convInstalled || tf.getKernel("Conv2DBackpropFilter", "wasm")) return;
  const reshape = tf.getKernel("Reshape", "wasm");
  const filter3d = tf.getKernel("Conv3DBackpropFilterV2", "wasm");
  if (!reshape || !filter3d) return;
  convInstalled = true;
  tf.registerKernel({
    kernelName: "Conv2DBackpropFilter",
    backendName: "wasm",
    kernelFunc(args: KernelArgs) {
      const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const attrs = args.attrs as {
        strides: number | [number, number];
        pad: unknown;
        dataFormat?: string;
        filterShape: [number, number, number, number];
      };
      if (attrs.dataFormat && attrs.dataFormat !== "NHWC") {
        throw new Error(
          `Conv2DBackpropFilter on wasm: data format "${attrs.dataFormat}" is not supported`,
        );
      }
      const [strideH, strideW] = typeof attrs.strides === "number"
        ? [attrs.strides, attrs.strides]
        : attrs.strides;
      const backend = args.backend as tf.KernelBackend;
      if (strideH !== 1 || strideW !== 1 || (attrs.pad !== "valid" && attrs.pad !== "same")) {
        return filterGradByLoops(backend, x, dy, attrs);
      }
      const as = (t: tf.TensorInfo, shape: number[]) =>
        reshape.kernelFunc({ inputs: { x: t }, backend, attrs: { shape } }) as tf.TensorInfo;
      const x5 = as(x, [x.shape[0]!, 1, ...x.shape.slice(1)]);
      const dy5 = as(dy, [dy.shape[0]!, 1, ...dy.shape.slice(1)]);
      const dw5 = filter3d.kernelFunc({
        inputs: { x: x5, dy: dy5 },
        backend,
        attrs: {
          strides: [1, strideH, strideW],
          pad: attrs.pad,
          filterShape: [1, ...attrs.filterShape],
        },
      }) as tf.TensorInfo;
      const dw = as(dw5, [...attrs.filterShape]);
      for (const t of [x5, dy5, dw5]) backend.disposeData(t.dataId);
      return dw;
    },
  });
}

/** The filter gradient of an NHWC convolution by direct loops over the values. */
function filterGradByLoops(
  backend: tf.KernelBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  attrs: {
    strides: number | [number, number];
    pad: unknown;
    filterShape: [number, number, number, number];
  },
): tf.TensorInfo {
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad as "valid",
  );
  const xs = backend.readSync(x.dataId) as Float32Array;
  const dys = backend.readSync(dy.dataId) as Float32Array;
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;
  const dw = new Float32Array(filterHeight * filterWidth * inChannels * outChannels);
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const dyBase = ((n * outHeight + oh) * outWidth + ow) * outChannels;
        for (let i = 0; i < filterHeight; i++) {
          const ih = oh * strideHeight + i - top;
          if (ih < 0 || ih >= inHeight) continue;
          for (let j = 0; j < filterWidth; j++) {
            const iw = ow * strideWidth + j - left;
            if (iw < 0 || iw >= inWidth) continue;
            const xBase = ((n * inHeight + ih) * inWidth + iw) * inChannels;
            const wBase = (i * filterWidth + j) * inChannels * outChannels;
            for (let c = 0; c < inChannels; c++) {
              const xv = xs[xBase + c]!;
              const row = wBase + c * outChannels;
              for (let o = 0; o < outChannels; o++) dw[row + o]! += xv * dys[dyBase + o]!;
            }
          }
        }
      }
    }
  }
  const wasm = backend as unknown as {
    makeOutput(
      shape: number[],
      dtype: "float32",
      offset?: number,
      values?: Float32Array,
    ): tf.TensorInfo;
  };
  return wasm.makeOutput(attrs.filterShape, "float32", undefined, dw);
}

let segmentSumInstalled = false;

/**
 * Registers UnsortedSegmentSum (the gradient of a gather, as in an Embedding
 * layer) for wasm once per process: a ScatterNd of the rows to their segment
 * ids, which adds rows that share an id.
 */
export function installWasmUnsortedSegmentSum(): void {
  if (segmentSumInstalled || tf.getKernel("UnsortedSegmentSum", "wasm")) return;
  const reshape = tf.getKernel("Reshape", "wasm");
  const scatterNd = tf.getKernel("ScatterNd", "wasm");
  const cast = tf.getKernel("Cast", "wasm");
  if (!reshape || !scatterNd || !cast) return;
  segmentSumInstalled = true;
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc(args: KernelArgs) {
      const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = args.attrs as { numSegments: number };
      const backend = args.backend as tf.KernelBackend;
      const n = elementCount(segmentIds.shape);
      const ids = segmentIds.dtype === "int32" ? segmentIds : cast.kernelFunc({
        inputs: { x: segmentIds },
        backend,
        attrs: { dtype: "int32" },
      }) as tf.TensorInfo;
      const indices = reshape.kernelFunc({
        inputs: { x: ids },
        backend,
        attrs: { shape: [n, 1] },
      }) as tf.TensorInfo;
      const rowShape = x.shape.slice(segmentIds.shape.length);
      const updates = reshape.kernelFunc({
        inputs: { x },
        backend,
        attrs: { shape: [n, ...rowShape] },
      }) as tf.TensorInfo;
      const out = scatterNd.kernelFunc({
        inputs: { indices, updates },
        backend,
        attrs: { shape: [numSegments, ...rowShape] },
      }) as tf.TensorInfo;
      for (const t of [indices, updates]) backend.disposeData(t.dataId);
      if (ids !== segmentIds) backend.disposeData(ids.dataId);
      return out;
    },
  });
}

let gatherInstalled = false;

interface WasmHeapBackend {
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  readSync(dataId: unknown): tf.TypedArray;
}

/**
 * Replaces the wasm GatherV2 kernel once per process with one that copies
 * slices between views of the wasm heap; a no-op afterwards.
 */
export function installWasmGather(): void {
  if (gatherInstalled || !tf.getKernel("GatherV2", "wasm")) return;
  gatherInstalled = true;
  tf.unregisterKernel("GatherV2", "wasm");
  tf.registerKernel({
    kernelName: "GatherV2",
    backendName: "wasm",
    kernelFunc(args: KernelArgs) {
      const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
      const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
      const backend = args.backend as unknown as WasmHeapBackend;
      const parsedAxis = tf.util.parseAxisParam(axis, x.shape)[0]!;
      const index = backend.readSync(indices.dataId);
      const axisSize = x.shape[parsedAxis]!;
      for (let i = 0; i < index.length; i++) {
        const value = index[i]!;
        if (!(value >= 0 && value <= axisSize - 1)) {
          throw new Error(`GatherV2: the index value ${value} is not in [0, ${axisSize - 1}]`);
        }
      }
      const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(
        x,
        indices,
        parsedAxis,
        batchDims,
      );
      const out = backend.makeOutput(info.outputShape, x.dtype);
      if (elementCount(x.shape) === 0 || index.length === 0) return out;
      const source = backend.typedArrayFromHeap(x);
      const target = backend.typedArrayFromHeap(out);
      const { batchSize, outerSize, dimSize, sliceSize } = info;
      const perBatch = index.length / batchSize;
      let offset = 0;
      for (let b = 0; b < batchSize; b++) {
        for (let o = 0; o < outerSize; o++) {
          const base = (b * outerSize + o) * dimSize;
          for (let i = 0; i < perBatch; i++) {
            const start = (base + index[b * perBatch + i]!) * sliceSize;
            if (sliceSize === 1) target[offset] = source[start]!;
            else target.set(source.subarray(start, start + sliceSize), offset);
            offset += sliceSize;
          }
        }
      }
      return out;
    },
  });
}

/**
 * Makes a model's transformer layers (LayerNormalization, GeluTanh,
 * MultiHeadAttention) run the fused wasm kernels while the wasm backend
 * runs; each falls back to the layer's own call elsewhere. A trainer does
 * this to its model; an evaluator's model (the coordinator's) gains the same
 * forward speed.
 *
 * @example
 * ```ts
 * import { useWasmLayers } from "./wasm_kernels.ts";
 * import { buildModel } from "../../shared/model/model.ts";
 * import { mnistMlpTopology } from "../../shared/tasks/mnist_mlp.ts";
 * useWasmLayers(await buildModel(mnistMlpTopology())); // no transformer layer: nothing changes
 * ```
 */
export { useWasmLayers } from "./_fused_layers.ts";
