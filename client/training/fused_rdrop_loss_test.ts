// The R-Drop loss kernels against shared/rdrop_loss.ts on the same backend:
// loss, ce, kl and the gradient in the logits, for a language model's
// positions (with padding masked and unlabeled positions) and for rows.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { startBackend } from "./backend.ts";
import { wasmRdropLoss } from "./_fused_rdrop_loss.ts";
import { rdropLoss, type RDropLossOptions } from "../../shared/rdrop_loss.ts";
import { seededRandom } from "../../shared/random.ts";

await startBackend("wasm");

function random(shape: number[], seed: number, scale: number): tf.Tensor {
  const next = seededRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => (next() * 2 - 1) * scale), shape);
}

function assertClose(actual: tf.Tensor, expected: tf.Tensor, what: string, tolerance: number) {
  const a = actual.dataSync();
  const e = expected.dataSync();
  assert.deepEqual(actual.shape, expected.shape, what);
  for (let i = 0; i < e.length; i++) {
    assert.ok(Math.abs(a[i]! - e[i]!) <= tolerance, `${what}[${i}]: ${a[i]} against ${e[i]}`);
  }
}

Deno.test("the R-Drop loss kernels match rdropLoss: values and the gradient in the logits", () => {
  const cases: { name: string; logits: number[]; options: RDropLossOptions }[] = [
    {
      name: "sequences, padding masked, unlabeled positions",
      logits: [6, 5, 20],
      options: {
        labels: tf.tensor2d(
          [[3, 7, -1, 19, 0], [-1, -1, 4, 2, -1], [1, 2, 3, -1, -1]],
          undefined,
          "int32",
        ),
        mask: tf.tensor2d([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 0, 0]]),
        alpha: 0.7,
        unlabeledAlpha: 0.3,
      },
    },
    {
      name: "rows",
      logits: [8, 12],
      options: { labels: tf.tensor1d([0, 11, -1, 5], "int32"), alpha: 2 },
    },
  ];
  for (const { name, logits: shape, options } of cases) {
    const logits = random(shape, 5, 4);
    const run = (f: typeof rdropLoss) => {
      let parts: { ce: tf.Scalar; kl: tf.Scalar } | null = null;
      const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => {
        const result = f(x, options);
        parts = { ce: tf.keep(result.ce), kl: tf.keep(result.kl) };
        return result.loss;
      })(logits);
      return { value, grad, ...parts! };
    };
    const want = run(rdropLoss);
    const got = run((x, o) => wasmRdropLoss(x, o)!);
    for (const part of ["value", "ce", "kl"] as const) {
      assertClose(got[part], want[part], `${name}: ${part}`, 2e-5);
    }
    assertClose(got.grad, want.grad, `${name}: gradient`, 1e-6);
  }
});

Deno.test("the R-Drop loss kernels leave distribution alignment and odd class counts to rdropLoss", () => {
  const labels = tf.tensor1d([1, -1], "int32");
  const prior = tf.tensor1d([0.25, 0.25, 0.25, 0.25]);
  assert.equal(wasmRdropLoss(tf.zeros([4, 4]), { labels, alpha: 1, prior, priorWeight: 1 }), null);
  assert.equal(wasmRdropLoss(tf.zeros([4, 3]), { labels, alpha: 1 }), null);
});
