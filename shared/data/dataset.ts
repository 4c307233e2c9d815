/**
 * The in-memory dataset shared by clients, the coordinator and the partitioner.
 * @module
 */
import { elementCount } from "../shape.ts";

/**
 * Rows of features with a class label each, or -1 for an unlabeled row; or,
 * for sequences (`labelShape` `[T]`), a class at each position (-1 where a
 * position has none), the row's features then being its token ids (0 is
 * padding).
 */
export interface Dataset {
  /** Row-major features: `size(dataset) * featureSize(dataset)` values. */
  x: Float32Array;
  /** Class index per row (or per position of a row), `-1` where there is none. */
  labels: Int32Array;
  /** Shape of one row's features, e.g. `[784]`. */
  featureShape: number[];
  /** Number of classes of the labels. */
  numClasses: number;
  /** Shape of one row's labels: `[]` (one a row, the default) or `[T]` (one a position). */
  labelShape?: number[];
}

/**
 * Labels a row holds: 1, or the positions of a sequence row.
 *
 * @example
 * ```ts
 * import { labelSize } from "./dataset.ts";
 * import assert from "node:assert/strict";
 * assert.equal(labelSize({}), 1);
 * assert.equal(labelSize({ labelShape: [16] }), 16);
 * ```
 */
export function labelSize(dataset: Pick<Dataset, "labelShape">): number {
  return elementCount(dataset.labelShape ?? []);
}

/**
 * Whether row `row` has a label (at any of its positions).
 *
 * @example
 * ```ts
 * import { rowLabeled } from "./dataset.ts";
 * import assert from "node:assert/strict";
 * const ds = { labels: Int32Array.of(-1, -1, 2, -1), labelShape: [2] };
 * assert.deepEqual([rowLabeled(ds, 0), rowLabeled(ds, 1)], [false, true]);
 * ```
 */
export function rowLabeled(dataset: Pick<Dataset, "labels" | "labelShape">, row: number): boolean {
  const size = labelSize(dataset);
  for (let i = row * size; i < (row + 1) * size; i++) if (dataset.labels[i]! >= 0) return true;
  return false;
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
export function countRows(dataset: Pick<Dataset, "labels" | "labelShape">): DatasetCounts {
  const rows = dataset.labels.length / labelSize(dataset);
  let numLabeled = 0;
  for (let row = 0; row < rows; row++) if (rowLabeled(dataset, row)) numLabeled++;
  return { numLabeled, numUnlabeled: rows - numLabeled };
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
  const size = labelSize(dataset);
  const x = new Float32Array(indices.length * width);
  const labels = new Int32Array(indices.length * size).fill(-1);
  indices.forEach((row, i) => {
    x.set(dataset.x.subarray(row * width, (row + 1) * width), i * width);
    if (!options.hideLabels?.has(row)) {
      labels.set(dataset.labels.subarray(row * size, (row + 1) * size), i * size);
    }
  });
  return {
    x,
    labels,
    featureShape: [...dataset.featureShape],
    numClasses: dataset.numClasses,
    ...(dataset.labelShape ? { labelShape: [...dataset.labelShape] } : {}),
  };
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
