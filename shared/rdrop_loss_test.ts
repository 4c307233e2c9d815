import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { buildModel } from "./model/model.ts";
import { rdropLoss, rdropMseLoss } from "./rdrop_loss.ts";
import { mnistMlpTopology } from "./tasks/mnist_mlp.ts";

await tf.setBackend("cpu");

// ---- plain-JS reference, independent of tfjs ----

function logSoftmax(row: readonly number[]): number[] {
  const max = Math.max(...row);
  const lse = max + Math.log(row.reduce((sum, v) => sum + Math.exp(v - max), 0));
  return row.map((v) => v - lse);
}

/** KL(p || q) from log-probabilities. */
function klDiv(logP: readonly number[], logQ: readonly number[]): number {
  return logP.reduce((sum, l, i) => sum + Math.exp(l) * (l - logQ[i]!), 0);
}

interface Reference {
  loss: number;
  ce: number;
  kl: number;
  /** Symmetric KL of each unmasked row (NaN for masked rows). */
  klRows: number[];
  /** Average CE of the two twins of each row, alone. */
  ceRows: number[];
}

function reference(
  logits: readonly (readonly number[])[],
  labels: readonly number[],
  alpha: number,
  unlabeledAlpha = alpha,
  mask?: readonly number[],
): Reference {
  const n = labels.length;
  let ceSum = 0;
  let labeledCount = 0;
  let klSum = 0;
  let weightedKl = 0;
  let count = 0;
  const klRows: number[] = [];
  const ceRows: number[] = [];
  for (let i = 0; i < n; i++) {
    const lp1 = logSoftmax(logits[i]!);
    const lp2 = logSoftmax(logits[n + i]!);
    const label = labels[i]!;
    const ceRow = label >= 0 ? 0.5 * (-lp1[label]! - lp2[label]!) : NaN;
    const klRow = 0.5 * (klDiv(lp1, lp2) + klDiv(lp2, lp1));
    ceRows.push(ceRow);
    if (mask && mask[i] === 0) {
      klRows.push(NaN);
      continue;
    }
    klRows.push(klRow);
    count++;
    klSum += klRow;
    if (label >= 0) {
      labeledCount++;
      ceSum += ceRow;
      weightedKl += alpha * klRow;
    } else {
      weightedKl += unlabeledAlpha * klRow;
    }
  }
  const ce = labeledCount > 0 ? ceSum / labeledCount : 0;
  return { ce, kl: klSum / count, loss: ce + weightedKl / count, klRows, ceRows };
}

function value(t: tf.Tensor): number {
  const v = t.dataSync()[0];
  assert.equal(t.size, 1);
  assert.ok(v !== undefined);
  return v;
}

function assertClose(actual: number, expected: number, tolerance: number, what = "") {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what}: expected ${expected}, got ${actual} (tolerance ${tolerance})`,
  );
}

/** Runs rdropLoss on plain arrays and reads back the three scalars. */
function run(
  logits: readonly (readonly number[])[],
  labels: readonly number[],
  alpha: number,
  extra: { unlabeledAlpha?: number; mask?: readonly number[] } = {},
): { loss: number; ce: number; kl: number } {
  return tf.tidy(() => {
    const out = rdropLoss(tf.tensor2d(logits as number[][]), {
      labels: tf.tensor1d(labels as number[], "int32"),
      alpha,
      unlabeledAlpha: extra.unlabeledAlpha,
      mask: extra.mask ? tf.tensor1d(extra.mask as number[]) : undefined,
    });
    return { loss: value(out.loss), ce: value(out.ce), kl: value(out.kl) };
  });
}

const TOL = 1e-5;

// 3 rows x 3 classes: rows 0..2 are twin 1, rows 3..5 twin 2.
const LOGITS = [
  [1.0, -0.5, 2.0],
  [0.3, 0.1, -1.2],
  [-2.0, 1.5, 0.4],
  [0.7, 0.2, 1.1],
  [-0.4, 1.3, 0.0],
  [-1.0, 0.9, 1.8],
];
const LABELS = [2, -1, 0];

Deno.test("rdropLoss() matches a hand computation", async (t) => {
  const expected = reference(LOGITS, LABELS, 0.7);

  await t.step("ce, kl and loss", () => {
    const actual = run(LOGITS, LABELS, 0.7);
    // Sanity of the reference itself: KL of distinct twins is positive.
    assert.ok(expected.kl > 0.05);
    assertClose(actual.ce, expected.ce, TOL, "ce");
    assertClose(actual.kl, expected.kl, TOL, "kl");
    assertClose(actual.loss, expected.loss, TOL, "loss");
    assertClose(actual.loss, expected.ce + 0.7 * expected.kl, TOL, "loss = ce + alpha * kl");
  });

  await t.step("ce averages labeled rows only, kl all rows", () => {
    // Written out for the two labeled rows (0 and 2) and all three KL rows.
    const ce = (expected.ceRows[0]! + expected.ceRows[2]!) / 2;
    const kl = (expected.klRows[0]! + expected.klRows[1]! + expected.klRows[2]!) / 3;
    const actual = run(LOGITS, LABELS, 0.7);
    assertClose(actual.ce, ce, TOL, "ce");
    assertClose(actual.kl, kl, TOL, "kl");
  });

  await t.step("gradient of the CE part is (softmax - onehot) / (2 * labeled rows)", () => {
    const grad = tf.tidy(() => {
      const labels = tf.tensor1d(LABELS, "int32");
      const g = tf.grad((x: tf.Tensor) => rdropLoss(x, { labels, alpha: 0 }).loss);
      return g(tf.tensor2d(LOGITS)).arraySync() as number[][];
    });
    const n = LABELS.length;
    const labeledRows = LABELS.filter((l) => l >= 0).length;
    LOGITS.forEach((row, r) => {
      const label = LABELS[r % n]!;
      const p = logSoftmax(row).map(Math.exp);
      row.forEach((_, c) => {
        const want = label < 0 ? 0 : (p[c]! - (c === label ? 1 : 0)) / (2 * labeledRows);
        assertClose(grad[r]![c]!, want, 1e-6, `grad[${r}][${c}]`);
      });
    });
  });
});

Deno.test("rdropLoss() is symmetric in the twins", () => {
  const swapped = [...LOGITS.slice(3), ...LOGITS.slice(0, 3)];
  const a = run(LOGITS, LABELS, 0.7);
  const b = run(swapped, LABELS, 0.7);
  assert.equal(b.ce, a.ce);
  assert.equal(b.kl, a.kl);
  assert.equal(b.loss, a.loss);
});

Deno.test("rdropLoss() gives zero KL for identical twins", () => {
  const twins = [...LOGITS.slice(0, 3), ...LOGITS.slice(0, 3)];
  const actual = run(twins, LABELS, 0.7);
  const expected = reference(twins, LABELS, 0.7);
  assertClose(actual.kl, 0, 1e-7, "kl");
  assertClose(actual.loss, actual.ce, 1e-7, "loss - ce");
  assertClose(actual.ce, expected.ce, TOL, "ce");
});

Deno.test("rdropLoss() averages the CE of the two twins", () => {
  const logits = [[2, 0], [0, 0]];
  const ce1 = Math.log(1 + Math.exp(-2)); // -log softmax([2, 0])[0]
  const ce2 = Math.log(2); // -log softmax([0, 0])[0]
  const actual = run(logits, [0], 0);
  assertClose(actual.ce, (ce1 + ce2) / 2, 1e-6, "ce");
  assert.ok(Math.abs(actual.ce - ce1) > 0.1 && Math.abs(actual.ce - ce2) > 0.1);
  assertClose(actual.loss, actual.ce, 1e-7, "alpha 0 leaves only ce");
  // The twins disagree, so the KL is positive though alpha 0 ignores it.
  assertClose(actual.kl, reference(logits, [0], 0).kl, 1e-6, "kl");
});

Deno.test("rdropLoss() ignores masked rows", async (t) => {
  // Row 1 (labeled) is masked; rows 0 (labeled) and 2 (unlabeled) count.
  const labels = [2, 1, -1];
  const mask = [1, 0, 1];
  const subset = [LOGITS[0]!, LOGITS[2]!, LOGITS[3]!, LOGITS[5]!];

  await t.step("equals the loss on the unmasked rows alone", () => {
    const masked = run(LOGITS, labels, 0.7, { mask });
    const alone = run(subset, [2, -1], 0.7);
    const expected = reference(subset, [2, -1], 0.7);
    assertClose(masked.ce, expected.ce, TOL, "ce");
    assertClose(masked.kl, expected.kl, TOL, "kl");
    assertClose(masked.loss, expected.loss, TOL, "loss");
    assertClose(masked.ce, alone.ce, 1e-6, "ce vs subset");
    assertClose(masked.kl, alone.kl, 1e-6, "kl vs subset");
    assertClose(masked.loss, alone.loss, 1e-6, "loss vs subset");
    // and the reference with a mask agrees with the subset reference
    assertClose(reference(LOGITS, labels, 0.7, 0.7, mask).loss, expected.loss, 1e-12, "ref");
  });

  await t.step("does not depend on the masked row's logits", () => {
    const before = run(LOGITS, labels, 0.7, { mask });
    const wild = LOGITS.map((row) => [...row]);
    wild[1] = [1e30, -1e30, 3e4];
    wild[4] = [-1e30, 1e30, -3e4];
    const after = run(wild, labels, 0.7, { mask });
    assert.deepEqual(after, before);
  });
});

Deno.test("rdropLoss() weights unlabeled rows' KL by unlabeledAlpha", () => {
  const alpha = 0.7;
  const unlabeledAlpha = 0.2;
  const ref = reference(LOGITS, LABELS, alpha);
  const klLabeled = ref.klRows[0]! + ref.klRows[2]!;
  const klUnlabeled = ref.klRows[1]!;
  const expectedLoss = ref.ce + (alpha * klLabeled + unlabeledAlpha * klUnlabeled) / 3;
  const actual = run(LOGITS, LABELS, alpha, { unlabeledAlpha });
  assertClose(actual.loss, expectedLoss, TOL, "loss");
  assertClose(actual.ce, ref.ce, TOL, "ce unchanged");
  assertClose(actual.kl, ref.kl, TOL, "kl unweighted");
  // It really differs from the alpha-only loss.
  assert.ok(Math.abs(actual.loss - ref.loss) > 1e-3);
  // unlabeledAlpha 0 drops the unlabeled row's KL altogether
  const zero = run(LOGITS, LABELS, alpha, { unlabeledAlpha: 0 });
  assertClose(zero.loss, ref.ce + (alpha * klLabeled) / 3, TOL, "loss with unlabeledAlpha 0");
});

Deno.test("rdropLoss() gives ce 0 and a finite loss for an all-unlabeled batch", () => {
  const labels = [-1, -1, -1];
  const actual = run(LOGITS, labels, 0.5);
  const expected = reference(LOGITS, labels, 0.5);
  assert.equal(actual.ce, 0);
  assert.ok(Number.isFinite(actual.loss));
  assertClose(actual.kl, expected.kl, TOL, "kl");
  assertClose(actual.loss, 0.5 * expected.kl, TOL, "loss");
});

Deno.test("rdropLoss() stays finite on extreme logits", async (t) => {
  const logits = [
    [1e4, -1e4, 0],
    [-1e4, 1e4, -1e4],
    [0, 0, 1e4],
    [-1e4, 1e4, 0],
    [-1e4, 1e4, -1e4],
    [1e4, -1e4, -1e4],
  ];
  const labels = [1, 0, -1];

  await t.step("values", () => {
    const actual = run(logits, labels, 1);
    const expected = reference(logits, labels, 1);
    for (const key of ["loss", "ce", "kl"] as const) {
      assert.ok(Number.isFinite(actual[key]), `${key} is ${actual[key]}`);
      assertClose(actual[key], expected[key], 1e-6 * Math.abs(expected[key]), key);
    }
    assert.ok(expected.ce > 1e4); // the labels sit on -1e4 logits
  });

  await t.step("gradients", () => {
    const variable = tf.variable(tf.tensor2d(logits));
    const labelTensor = tf.tensor1d(labels, "int32");
    const { value: loss, grads } = tf.variableGrads(
      () => rdropLoss(variable, { labels: labelTensor, alpha: 1 }).loss,
      [variable],
    );
    const grad = grads[variable.name];
    assert.ok(grad);
    const data = grad.dataSync();
    assert.equal(data.length, 18);
    for (const g of data) assert.ok(Number.isFinite(g), `gradient ${g}`);
    assert.ok(data.some((g) => Math.abs(g) > 1e-3)); // not trivially zero
    assert.ok(Number.isFinite(value(loss)));
    tf.dispose([variable, labelTensor, loss, grad]);
  });
});

Deno.test("rdropLoss() handles sequence outputs position by position", () => {
  // n = 2 rows, T = 2 positions, 3 classes; position [1][1] is padding.
  const seq = [
    [[1, 0, -1], [0.5, 0.5, 2]],
    [[0, 2, 1], [3, -3, 0]],
    [[0.2, 0.1, -0.3], [1, 1, 1]],
    [[-1, 2.5, 0], [-2, 4, 9]],
  ];
  const labels = [[0, -1], [2, 1]];
  const mask = [[1, 1], [1, 0]];
  const flat = (t: number[][][]) => t.flat();
  // Positions flattened: twin 1 = rows 0,1 -> [p00, p01, p10, p11], twin 2 likewise.
  const logitsFlat = [...flat(seq.slice(0, 2)), ...flat(seq.slice(2))];
  const expected = reference(logitsFlat, labels.flat(), 0.6, 0.3, mask.flat());
  const actual = tf.tidy(() => {
    const out = rdropLoss(tf.tensor3d(seq), {
      labels: tf.tensor2d(labels, undefined, "int32"),
      alpha: 0.6,
      unlabeledAlpha: 0.3,
      mask: tf.tensor2d(mask),
    });
    return { loss: value(out.loss), ce: value(out.ce), kl: value(out.kl) };
  });
  assertClose(actual.ce, expected.ce, TOL, "ce");
  assertClose(actual.kl, expected.kl, TOL, "kl");
  assertClose(actual.loss, expected.loss, TOL, "loss");
});

Deno.test("rdropLoss() throws RangeError on a wrong row count", () => {
  const labels = tf.tensor1d([0, 1, 2], "int32");
  const logits = tf.zeros([5, 3]);
  const before = tf.memory().numTensors;
  assert.throws(() => rdropLoss(logits, { labels, alpha: 1 }), RangeError);
  assert.throws(() => rdropLoss(tf.zeros([3, 3]), { labels, alpha: 1 }), RangeError);
  assert.equal(tf.memory().numTensors, before + 1); // only the inline tf.zeros([3, 3])
  tf.dispose([labels, logits]);
});

Deno.test("rdropLoss() returns only its four scalars", () => {
  const logits = tf.tensor2d(LOGITS);
  const labels = tf.tensor1d(LABELS, "int32");
  const prior = tf.tensor1d([0.5, 0.3, 0.2]);
  const before = tf.memory().numTensors;
  const out = rdropLoss(logits, { labels, alpha: 0.7, prior, priorWeight: 1 });
  assert.equal(tf.memory().numTensors, before + 4);
  for (const t of [out.loss, out.ce, out.kl, out.alignment]) assert.equal(t.rank, 0);
  tf.dispose([logits, labels, prior, out.loss, out.ce, out.kl, out.alignment]);
});

Deno.test("rdropMseLoss() matches a hand computation", () => {
  // n = 3 rows of 2 outputs; rows 0 and 2 have targets.
  const out = [
    [1, 2],
    [0, -1],
    [3, 0.5],
    [1.5, 1],
    [2, -2],
    [2, 1],
  ];
  const targets = [[1, 1], [9, 9], [2, 0]];
  const labeledMask = [1, 0, 1];
  const alpha = 0.4;
  const sq = (a: number[], b: number[]) => ((a[0]! - b[0]!) ** 2 + (a[1]! - b[1]!) ** 2) / 2;
  let mseSum = 0;
  let consistencySum = 0;
  for (let i = 0; i < 3; i++) {
    if (labeledMask[i]) mseSum += 0.5 * (sq(out[i]!, targets[i]!) + sq(out[3 + i]!, targets[i]!));
    consistencySum += sq(out[i]!, out[3 + i]!);
  }
  const mse = mseSum / 2;
  const consistency = consistencySum / 3;
  const actual = tf.tidy(() => {
    const r = rdropMseLoss(tf.tensor2d(out), {
      targets: tf.tensor2d(targets),
      labeledMask: tf.tensor1d(labeledMask),
      alpha,
    });
    return { loss: value(r.loss), mse: value(r.mse), consistency: value(r.consistency) };
  });
  assertClose(actual.mse, mse, 1e-6, "mse");
  assertClose(actual.consistency, consistency, 1e-6, "consistency");
  assertClose(actual.loss, mse + alpha * consistency, 1e-6, "loss");
});

Deno.test("rdropMseLoss() throws RangeError on a wrong row count", () => {
  tf.tidy(() => {
    assert.throws(
      () =>
        rdropMseLoss(tf.zeros([3, 2]), {
          targets: tf.zeros([2, 2]),
          labeledMask: tf.ones([2]),
          alpha: 1,
        }),
      RangeError,
    );
  });
});

Deno.test("rdropLoss() sees dropout: twins of one pass differ only in training", async () => {
  const model = await buildModel(mnistMlpTopology());
  const x = tf.randomUniform([4, 784], 0, 1, "float32", 42);
  const twins = tf.concat([x, x]);
  const labels = tf.tensor1d([3, -1, 7, 0], "int32");
  try {
    for (const training of [true, false]) {
      const { kl, equal } = tf.tidy(() => {
        const out = model.apply(twins, { training }) as tf.Tensor;
        assert.deepEqual(out.shape, [8, 10]);
        const [a, b] = tf.split(out, 2, 0) as [tf.Tensor, tf.Tensor];
        const { kl } = rdropLoss(out, { labels, alpha: 1 });
        const av = a.dataSync();
        const bv = b.dataSync();
        return { kl: value(kl), equal: av.every((v, i) => v === bv[i]) };
      });
      if (training) {
        assert.ok(kl > 1e-6, `kl ${kl} with dropout`);
        assert.equal(equal, false);
      } else {
        assert.ok(kl < 1e-7, `kl ${kl} without dropout`);
        assert.equal(equal, true);
      }
    }
  } finally {
    tf.dispose([x, twins, labels]);
    model.dispose();
  }
});

Deno.test("rdropLoss() distribution alignment is KL(prior || mean prediction on unlabeled rows)", () => {
  const softmax = (row: number[]) => {
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  };
  // Row 1 is the only unlabeled row; its twins are LOGITS[1] and LOGITS[4].
  const p1 = softmax(LOGITS[1]!);
  const p2 = softmax(LOGITS[4]!);
  const prior = [0.5, 0.3, 0.2];
  const expected = prior.reduce(
    (sum, q, k) => sum + q * Math.log(q / ((p1[k]! + p2[k]!) / 2)),
    0,
  );
  const logits = tf.tensor2d(LOGITS);
  const labels = tf.tensor1d(LABELS, "int32");
  const priorTensor = tf.tensor1d(prior);
  const plain = rdropLoss(logits, { labels, alpha: 0.7 });
  const aligned = rdropLoss(logits, { labels, alpha: 0.7, prior: priorTensor, priorWeight: 2 });
  assert.ok(Math.abs(aligned.alignment.dataSync()[0]! - expected) < 1e-5);
  assert.ok(
    Math.abs(aligned.loss.dataSync()[0]! - (plain.loss.dataSync()[0]! + 2 * expected)) < 1e-5,
  );
  // Every row labeled: nothing to align.
  const allLabeled = rdropLoss(logits, {
    labels: tf.tensor1d([2, 1, 0], "int32"),
    alpha: 0.7,
    prior: priorTensor,
    priorWeight: 2,
  });
  assert.equal(allLabeled.alignment.dataSync()[0], 0);
  tf.dispose([logits, labels, priorTensor]);
  tf.dispose(Object.values(plain));
  tf.dispose(Object.values(aligned));
  tf.dispose(Object.values(allLabeled));
});
