/**
 * Seeded splits of a dataset: train/holdout, and shards for federated clients.
 * @module
 */
import { dirichlet, type Random, seededRandom, shuffle } from "../random.ts";

/** How a dataset is spread over clients. */
export interface PartitionOptions {
  /** Number of clients. */
  clients: number;
  /** Dirichlet concentration over labels; `"iid"` for a uniform split. @default "iid" */
  beta?: number | "iid";
  /** Fraction of each client's rows that keep their label. @default 1 */
  labeledFraction?: number;
  /** Seed of the split. @default 0 */
  seed?: number;
  /** Fewest rows a client may get under Dirichlet; resampled until met. @default 10 */
  minRows?: number;
}

/** The rows of one client: indices into the source, and which keep a label. */
export interface ClientPartition {
  /** Row indices of the source dataset. */
  rows: number[];
  /** The subset of `rows` whose labels are hidden from the client. */
  unlabeledRows: Set<number>;
}

/**
 * Splits row indices into a seeded train and holdout part.
 *
 * @example
 * ```ts
 * import { splitHoldout } from "./partition.ts";
 * import assert from "node:assert/strict";
 * const { train, holdout } = splitHoldout(10, { holdoutFraction: 0.2, seed: 1 });
 * assert.equal(train.length, 8);
 * assert.equal(holdout.length, 2);
 * ```
 */
export function splitHoldout(
  numRows: number,
  options: { holdoutFraction: number; seed?: number },
): { train: number[]; holdout: number[] } {
  const { holdoutFraction, seed = 0 } = options;
  if (!(holdoutFraction >= 0 && holdoutFraction < 1)) {
    throw new RangeError(`Cannot split: holdout fraction "${holdoutFraction}" is outside [0, 1)`);
  }
  const order = shuffle(Array.from({ length: numRows }, (_, i) => i), seededRandom(seed));
  const numHoldout = Math.round(numRows * holdoutFraction);
  return { holdout: order.slice(0, numHoldout), train: order.slice(numHoldout) };
}

function validate(numRows: number, options: PartitionOptions): void {
  const { clients, beta = "iid", labeledFraction = 1 } = options;
  if (!Number.isInteger(clients) || clients < 1) {
    throw new RangeError(`Cannot partition: clients "${clients}" is not a positive integer`);
  }
  if (clients > numRows) {
    throw new RangeError(`Cannot partition: ${numRows} rows cannot give ${clients} clients a row`);
  }
  if (beta !== "iid" && !(beta > 0)) {
    throw new RangeError(`Cannot partition: beta "${beta}" is not positive`);
  }
  if (!(labeledFraction >= 0 && labeledFraction <= 1)) {
    throw new RangeError(
      `Cannot partition: labeled fraction "${labeledFraction}" is outside [0, 1]`,
    );
  }
}

function dirichletSplit(
  labels: ArrayLike<number>,
  rows: readonly number[],
  clients: number,
  beta: number,
  minRows: number,
  random: Random,
): number[][] {
  const byClass = new Map<number, number[]>();
  for (const row of rows) {
    const label = labels[row] ?? -1;
    const members = byClass.get(label);
    if (members) members.push(row);
    else byClass.set(label, [row]);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  for (let attempt = 0; attempt < 1000; attempt++) {
    const shards: number[][] = Array.from({ length: clients }, () => []);
    for (const label of classes) {
      const members = shuffle([...(byClass.get(label) ?? [])], random);
      const shares = dirichlet(clients, beta, random);
      let start = 0;
      let cumulative = 0;
      shares.forEach((share, client) => {
        cumulative += share;
        const end = client === clients - 1
          ? members.length
          : Math.round(cumulative * members.length);
        shards[client]?.push(...members.slice(start, end));
        start = end;
      });
    }
    if (shards.every((s) => s.length >= minRows)) return shards;
  }
  throw new RangeError(
    `Cannot partition: no Dirichlet(${beta}) draw gave every one of ${clients} clients ${minRows} rows`,
  );
}

/**
 * Spreads the given rows over clients, IID or non-IID by label with
 * Dirichlet(beta), and hides the labels of all but `labeledFraction` of each
 * client's rows. The same options and seed always give the same partition.
 *
 * @example
 * ```ts
 * import { partition } from "./partition.ts";
 * import assert from "node:assert/strict";
 * const labels = Array.from({ length: 100 }, (_, i) => i % 10);
 * const parts = partition(labels, [...labels.keys()], { clients: 4, beta: 0.5, labeledFraction: 0.1, seed: 1 });
 * assert.equal(parts.reduce((n, p) => n + p.rows.length, 0), 100);
 * ```
 */
export function partition(
  labels: ArrayLike<number>,
  rows: readonly number[],
  options: PartitionOptions,
): ClientPartition[] {
  validate(rows.length, options);
  const { clients, beta = "iid", labeledFraction = 1, seed = 0, minRows = 10 } = options;
  const random = seededRandom(seed);
  let shards: number[][];
  if (beta === "iid") {
    const order = shuffle([...rows], random);
    shards = Array.from(
      { length: clients },
      (_, c) =>
        order.slice(
          Math.floor((c * order.length) / clients),
          Math.floor(((c + 1) * order.length) / clients),
        ),
    );
  } else {
    shards = dirichletSplit(
      labels,
      rows,
      clients,
      beta,
      Math.min(minRows, Math.floor(rows.length / clients)),
      random,
    );
  }
  return shards.map((shard) => {
    const order = shuffle([...shard], random);
    const numLabeled = labeledFraction > 0
      ? Math.max(1, Math.round(order.length * labeledFraction))
      : 0;
    return { rows: order, unlabeledRows: new Set(order.slice(numLabeled)) };
  });
}
