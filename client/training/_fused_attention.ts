// Multi-head attention forward and backward on the wasm backend, head by
// head over the wasm heap (client/training/_attention_kernels.wat). The layer's
// own ops split the heads with 4-d transposes, and the wasm BatchMatMul of
// rank-4 operands (batch above 1) is a plain loop, not XNNPACK's: 2 GFLOP/s
// against 30 for a 2-d product. Here each head is read in place from the
// [b, T, dModel] projections (a product with strides), the masked softmax is
// one pass, the causal triangle that is all zeros is skipped, and the dropout
// multipliers are tfjs's own (the same Alea stream from the same
// Math.random() seed as tf.dropout, client/training/_fused_dropout.ts).
import * as tf from "@tensorflow/tfjs";
import { aleaState } from "./_fused_dropout.ts";
import { simdKernels } from "./simd_kernels.ts";
import { wasmTransformerKernels } from "./_fused_norm_gelu.ts";

/** What {@linkcode wasmAttention} needs of the layer. */
export interface AttentionOptions {
  /** Heads; they split dModel evenly. */
  heads: number;
  /** The causal mask. */
  causal: boolean;
  /** Dropout on the probabilities (0 for none, as at inference). */
  dropout: number;
  /** The padding id of `ids`. */
  padId: number;
}

/**
 * `MultiHeadAttention`'s output over projections q, k, v `[b, T, dModel]`
 * (and the key padding of ids `[b, T]`), with its gradients, by the wasm
 * kernels; null where they cannot run (another backend, T or the head width
 * not a multiple of 4), for the caller to use tfjs's ops.
 */
export function wasmAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  ids: tf.Tensor | undefined,
  options: AttentionOptions,
): tf.Tensor | null {
  if (q.rank !== 3 || ![q, k, v].every((x) => x.dtype === "float32")) return null;
  const [b, t, d] = q.shape as [number, number, number];
  const w = d / options.heads;
  const same = (x: tf.Tensor) => x.shape.every((n, i) => n === q.shape[i]);
  if (!same(k) || !same(v) || !Number.isInteger(w) || w % 4 !== 0 || t % 4 !== 0) return null;
  if (ids && (ids.rank !== 2 || ids.shape[0] !== b || ids.shape[1] !== t)) return null;
  const wasm = wasmTransformerKernels();
  const dropout = simdKernels()?.dropoutMultiplier;
  if (!wasm || !dropout) return null;
  const { kernels, offset, output, tensor, backend } = wasm;
  const heads = options.heads;
  const scale = 1 / Math.sqrt(w);
  const pad = ids ? tf.cast(tf.equal(ids, options.padId), "float32") : null;
  // With a causal mask a row is all masked only where the sequence starts with
  // padding; elsewhere the upper triangle is exactly 0 and is skipped (mode 2).
  const padded = pad?.dataSync();
  const modes = Array.from(
    { length: b },
    (_, r) => options.causal ? (padded && padded[r * t] === 1 ? 1 : 2) : 0,
  );
  const free = (info: tf.TensorInfo) =>
    (backend as unknown as { disposeData(id: unknown): void }).disposeData(info.dataId);
  const head = (x: tf.TensorInfo, r: number, h: number) => offset(x) + (r * t * d + h * w) * 4;
  const tile = (x: tf.TensorInfo, r: number, h: number) => offset(x) + (r * heads + h) * t * t * 4;
  const rate = options.dropout;
  const op = tf.customGrad((...args: unknown[]) => {
    const [q, k, v, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const out = output([b, t, d]);
    const probs = output([b, heads, t, t]);
    let mult: tf.TensorInfo | null = null;
    if (rate > 0) {
      const { s0, s1, s2, c } = aleaState(Math.random().toString());
      mult = output([b, heads, t, t]);
      dropout(offset(mult), b * heads * t * t, s0, s1, s2, c, Math.fround(1 - rate));
    }
    const scratch = output([t * t + w * t]);
    const scores = offset(scratch);
    const kt = scores + t * t * 4;
    for (let r = 0; r < b; r++) {
      const mode = modes[r]!;
      const padRow = pad ? offset(pad) + r * t * 4 : 0;
      for (let h = 0; h < heads; h++) {
        kernels.transpose(head(k, r, h), d, kt, t, t, w);
        kernels.gemm(head(q, r, h), d, kt, t, scores, t, t, t, w, mode === 2 ? 4 : 0);
        const p = tile(probs, r, h);
        kernels.softmaxRows(scores, p, padRow, t, scale, mode);
        let a = p;
        if (mult) {
          kernels.mul(p, tile(mult, r, h), scores, t * t);
          a = scores;
        }
        kernels.gemm(a, t, head(v, r, h), d, head(out, r, h), d, t, w, t, mode === 2 ? 1 : 0);
      }
    }
    free(scratch);
    const kept = [tensor(probs), ...(mult ? [tensor(mult)] : [])];
    save([q, k, v, ...kept]);
    return {
      value: tensor(out),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [q, k, v, probs, mult] = saved as [
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
          tf.Tensor?,
        ];
        const [dq, dk, dv] = [output([b, t, d]), output([b, t, d]), output([b, t, d])];
        const scratch = output([3 * t * t + w * t]);
        const g = offset(scratch);
        const pd = g + t * t * 4;
        const pt = pd + t * t * 4;
        const vt = pt + t * t * 4;
        for (let r = 0; r < b; r++) {
          const mode = modes[r]!;
          for (let h = 0; h < heads; h++) {
            const p = tile(probs, r, h);
            kernels.transpose(head(v, r, h), d, vt, t, t, w);
            kernels.gemm(head(dy, r, h), d, vt, t, g, t, t, t, w, mode === 2 ? 4 : 0);
            let dropped = p;
            if (mult) {
              kernels.mul(p, tile(mult, r, h), pd, t * t);
              dropped = pd;
            }
            kernels.transpose(dropped, t, pt, t, t, t);
            kernels.gemm(pt, t, head(dy, r, h), d, head(dv, r, h), d, t, w, t, mode === 2 ? 2 : 0);
            kernels.softmaxRowsBackward(p, mult ? tile(mult, r, h) : 0, g, t, scale, mode);
            kernels.gemm(g, t, head(k, r, h), d, head(dq, r, h), d, t, w, t, mode === 2 ? 1 : 0);
            kernels.transpose(g, t, pt, t, t, t);
            kernels.gemm(pt, t, head(q, r, h), d, head(dk, r, h), d, t, w, t, mode === 2 ? 2 : 0);
          }
        }
        free(scratch);
        return [tensor(dq), tensor(dk), tensor(dv)];
      },
    };
  });
  const result = op(q, k, v);
  pad?.dispose();
  return result;
}
