// The R-Drop loss of shared/rdrop_loss.ts in three WebAssembly SIMD passes
// over the logits on the wasm backend (client/training/_softmax_kernels.wat):
// each row's log-sum-exp, each position's KL and cross-entropy, and, on the
// way back, the gradient in the logits. tfjs's ops make a dozen passes over
// [2n, T, vocabulary] forward and more backward: a fifth of an R-Drop step
// of the benchmark transformer.
import * as tf from "@tensorflow/tfjs";
import type { RDropLoss, RDropLossOptions } from "../../shared/rdrop_loss.ts";
import { wasmTransformerKernels } from "./_fused_norm_gelu.ts";

/**
 * `rdropLoss(logits, options)` by the wasm kernels, the same values within
 * float32 rounding; null where they cannot run (another backend, classes not
 * a multiple of 4, distribution alignment), for the caller to use
 * `rdropLoss`.
 */
export function wasmRdropLoss(logits: tf.Tensor, options: RDropLossOptions): RDropLoss | null {
  const { labels, alpha, unlabeledAlpha = alpha, prior, priorWeight = 0 } = options;
  const v = logits.shape[logits.rank - 1] ?? 0;
  const n = labels.size;
  if (logits.dtype !== "float32" || v % 4 !== 0 || logits.size !== 2 * n * v) return null;
  if (prior && priorWeight > 0) return null;
  const wasm = wasmTransformerKernels();
  if (!wasm) return null;
  const { kernels, offset, output, tensor } = wasm;
  // Each position's weight in ce and in the KL term, as rdropLoss weighs them.
  const ids = labels.dataSync();
  const mask = options.mask?.dataSync();
  const flat = new Float32Array(3 * n);
  const wce = flat.subarray(0, n);
  const wkl = flat.subarray(n, 2 * n);
  const real = flat.subarray(2 * n);
  let labeled = 0;
  let counted = 0;
  for (let r = 0; r < n; r++) {
    real[r] = mask ? mask[r]! : 1;
    wce[r] = ids[r]! >= 0 ? real[r]! : 0;
    labeled += wce[r]!;
    counted += real[r]!;
  }
  for (let r = 0; r < n; r++) {
    wkl[r] = (wce[r]! * alpha + (real[r]! - wce[r]!) * unlabeledAlpha) * real[r]! /
      Math.max(counted, 1);
    wce[r] = wce[r]! / Math.max(labeled, 1);
  }
  const int = tf.cast(labels, "int32");
  const weights = tf.tensor2d(flat, [3, n]);
  // The forward runs in a tidy of its own: the parts leave it as numbers.
  const parts = { ce: 0, kl: 0 };
  const op = tf.customGrad((...args: unknown[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const stats = output([2 * n, 2]);
    kernels.rowMaxSumExp(offset(x), offset(stats), 2 * n, v);
    const pairs = tensor(stats).dataSync();
    const lse = new Float32Array(2 * n);
    for (let r = 0; r < 2 * n; r++) lse[r] = pairs[2 * r]! + Math.log(pairs[2 * r + 1]!);
    const lseTensor = tf.tensor1d(lse);
    const rowsOut = output([2, n]);
    kernels.rdropRows(
      offset(x),
      offset(lseTensor),
      offset(int),
      offset(rowsOut),
      offset(rowsOut) + n * 4,
      n,
      v,
    );
    const terms = tensor(rowsOut).dataSync();
    const w = weights.dataSync();
    let ce = 0;
    let kl = 0;
    let loss = 0;
    for (let r = 0; r < n; r++) {
      ce += terms[n + r]! * w[r]!;
      kl += terms[r]! * w[2 * n + r]!;
      loss += terms[r]! * w[n + r]!;
    }
    parts.ce = ce;
    parts.kl = kl / Math.max(counted, 1);
    save([x, lseTensor, int, weights]);
    return {
      value: tf.scalar(ce + loss),
      gradFunc: (dy: tf.Tensor, [x, lse, int, weights]: tf.Tensor[]) => {
        const dx = output(x!.shape);
        kernels.rdropBackward(
          offset(x!),
          offset(lse!),
          offset(int!),
          offset(weights!),
          offset(weights!) + n * 4,
          offset(dx),
          n,
          v,
          dy.dataSync()[0]!,
        );
        return tensor(dx);
      },
    };
  });
  const loss = op(logits) as tf.Scalar;
  return { loss, ce: tf.scalar(parts.ce), kl: tf.scalar(parts.kl), alignment: tf.scalar(0) };
}
