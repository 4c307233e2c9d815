/**
 * The in-memory dataset shared by clients, the coordinator and the partitioner.
 * @module
 */
import { elementCount } from "../shape.ts";

/** Rows of features with a class label each, or -1 for an unlabeled row. */
export interface Dataset {
  /** Row-major features: `size(dataset) * featureSize(dataset)` values. */
  x: Float32Array;
  /** Class index per row, `-1` where the row has no label. */
  labels: Int32Array;
  /** Shape of one row's features, e.g. `[784]`. */
  featureShape: number[];
  /** Number of classes of the labels. */
  numClasses: number;
}

/** Counts of a dataset's rows. */
export interface DatasetCounts {
  /** Rows with a label. */
  numLabeled: number;
  /** Rows without a label. */
  numUnlabeled: number;
}

/**
 * Number of feature values in one row.
 *
 * @example
 * ```ts
 * import { featureSize } from "./dataset.ts";
 * import assert from "node:assert/strict";
 * assert.equal(featureSize({ featureShape: [28, 28] }), 784);
 * ```
 */
export function featureSize(dataset: Pick<Dataset, "featureShape">): number {
  return elementCount(dataset.featureShape);
}

/**
 * Counts labeled and unlabeled rows.
 *
 * @example
 * ```ts
 * import { countRows } from "./dataset.ts";
 * import assert from "node:assert/strict";
 * const ds = { x: new Float32Array(6), labels: Int32Array.from([1, -1, 0]), featureShape: [2], numClasses: 2 };
 * assert.deepEqual(countRows(ds), { numLabeled: 2, numUnlabeled: 1 });
 * ```
 */
export function countRows(dataset: Pick<Dataset, "labels">): DatasetCounts {
  let numLabeled = 0;
  for (const label of dataset.labels) if (label >= 0) numLabeled++;
  return { numLabeled, numUnlabeled: dataset.labels.length - numLabeled };
}

/** Options of {@linkcode selectRows}. */
export interface SelectRowsOptions {
  /** Row indices (into the source) whose label is dropped. @default none */
  hideLabels?: ReadonlySet<number>;
}

/**
 * Copies the given rows into a new dataset, optionally dropping some labels.
 *
 * @example
 * ```ts
 * import { selectRows } from "./dataset.ts";
 * import assert from "node:assert/strict";
 * const ds = { x: Float32Array.from([0, 1, 2]), labels: Int32Array.from([0, 1, 0]), featureShape: [1], numClasses: 2 };
 * const sub = selectRows(ds, [2, 1], { hideLabels: new Set([1]) });
 * assert.deepEqual([...sub.x], [2, 1]);
 * assert.deepEqual([...sub.labels], [0, -1]);
 * ```
 */
export function selectRows(
  dataset: Dataset,
  indices: readonly number[],
  options: SelectRowsOptions = {},
): Dataset {
  const width = featureSize(dataset);
  const x = new Float32Array(indices.length * width);
  const labels = new Int32Array(indices.length);
  indices.forEach((row, i) => {
    x.set(dataset.x.subarray(row * width, (row + 1) * width), i * width);
    labels[i] = options.hideLabels?.has(row) ? -1 : dataset.labels[row] ?? -1;
  });
  return { x, labels, featureShape: [...dataset.featureShape], numClasses: dataset.numClasses };
}

/**
 * The same rows seen in another shape of the same size (e.g. 784 values as
 * `[28, 28, 1]`); a RangeError when the sizes differ.
 *
 * @example
 * ```ts
 * import { reshapeRows } from "./dataset.ts";
 * import assert from "node:assert/strict";
 * const ds = { x: new Float32Array(4), labels: Int32Array.of(0), featureShape: [4], numClasses: 2 };
 * assert.deepEqual(reshapeRows(ds, [2, 2]).featureShape, [2, 2]);
 * ```
 */
export function reshapeRows(dataset: Dataset, featureShape: readonly number[]): Dataset {
  if (featureSize(dataset) !== featureSize({ featureShape: [...featureShape] })) {
    throw new RangeError(
      `Cannot reshape rows: shape [${dataset.featureShape}] does not fit [${featureShape}]`,
    );
  }
  return { ...dataset, featureShape: [...featureShape] };
}
