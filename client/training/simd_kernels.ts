// Loads client/training/_simd_kernels.wat, _matmul_kernels.wat and
// _softmax_kernels.wat (embedded in the _wasm.ts modules of the same names)
// against the tfjs wasm backend's own heap, once per heap.
import * as tf from "@tensorflow/tfjs";
import { MATMUL_KERNELS_BASE64 } from "./_matmul_kernels_wasm.ts";
import { SIMD_KERNELS_BASE64 } from "./_simd_kernels_wasm.ts";
import { SOFTMAX_KERNELS_BASE64 } from "./_softmax_kernels_wasm.ts";

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

/** The transformer's kernels, bound to one wasm heap (pointers are byte offsets); see the .wat sources. */
export interface TransformerKernels {
  /** Layer norm of `rows` rows of `d` values; each row's mean and rstd to `stats`. */
  layerNormForward(
    x: number,
    gamma: number,
    beta: number,
    out: number,
    stats: number,
    rows: number,
    d: number,
    eps: number,
  ): void;
  /** Layer norm's gradients from the forward's stats. */
  layerNormBackward(
    dy: number,
    x: number,
    gamma: number,
    stats: number,
    dx: number,
    dgamma: number,
    dbeta: number,
    rows: number,
    d: number,
  ): void;
  /** GELU (tanh) of n values. */
  geluForward(x: number, out: number, n: number): void;
  /** dy times GELU's derivative, n values. */
  geluBackward(x: number, dy: number, dx: number, n: number): void;
  /** `C[m, n] = A[m, k] B[k, n]` with row strides, skipping triangles by `mode`. */
  gemm(
    a: number,
    lda: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    m: number,
    n: number,
    k: number,
    mode: number,
  ): void;
  /** `C[m, n] = Aᵀ B` (or `C +=` with accumulate 1), A `[k, m]`, B `[k, n]`, with row strides. */
  gemmTN(
    a: number,
    lda: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    m: number,
    n: number,
    k: number,
    accumulate: number,
  ): void;
  /** `out[j] = sum over r of x[r, j]` (cols a multiple of 4). */
  columnSum(x: number, out: number, rows: number, cols: number): void;
  /** `dst[c, r] = src[r, c]`. */
  transpose(src: number, lds: number, dst: number, ldd: number, rows: number, cols: number): void;
  /** `out = a * b` over n values (n a multiple of 4). */
  mul(a: number, b: number, out: number, n: number): void;
  /** One head's masked softmax over `t x t` raw scores. */
  softmaxRows(s: number, out: number, pad: number, t: number, scale: number, mode: number): void;
  /** Each row's largest logit and sum of exp(x - largest), to `stats`. */
  rowMaxSumExp(x: number, stats: number, rows: number, v: number): void;
  /** The R-Drop KL and cross-entropy of each of n twin positions. */
  rdropRows(
    x: number,
    lse: number,
    labels: number,
    kl: number,
    ce: number,
    n: number,
    v: number,
  ): void;
  /** Their weighted sum's gradient in the logits. */
  rdropBackward(
    x: number,
    lse: number,
    labels: number,
    wce: number,
    wkl: number,
    dx: number,
    n: number,
    v: number,
    dy: number,
  ): void;
  /** Its gradient, in place over `g`. */
  softmaxRowsBackward(
    p: number,
    mult: number,
    g: number,
    t: number,
    scale: number,
    mode: number,
  ): void;
}

/** The kernels, bound to one wasm heap. */
export interface SimdKernels {
  adam: AdamKernel;
  dropoutMultiplier: DropoutMultiplierKernel;
  /** The transformer's layer norm, GELU and attention kernels. */
  transformer: TransformerKernels;
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
      const load = (base64: string) => {
        const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
        return new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } })
          .exports;
      };
      const exports = load(SIMD_KERNELS_BASE64);
      kernels = {
        adam: exports.adam as AdamKernel,
        dropoutMultiplier: exports.dropoutMultiplier as DropoutMultiplierKernel,
        transformer: {
          ...exports,
          ...load(MATMUL_KERNELS_BASE64),
          ...load(SOFTMAX_KERNELS_BASE64),
        } as unknown as TransformerKernels,
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
