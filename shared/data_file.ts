/**
 * The data file format of clients: JSONL or CSV rows of features with an
 * optional label. A row without a label is an unlabeled row.
 *
 * JSONL, one object a line: `{"x": [0, 0.5, ...], "label": 3}`; `label` may be
 * a class index, a class name of the task, `null` or missing.
 *
 * CSV, a header line `label,x0,x1,...` then one row a line; an empty label
 * cell is an unlabeled row.
 * @module
 */
import type { Dataset } from "./dataset.ts";

/** Formats of {@linkcode parseDataFile}. */
export type DataFormat = "jsonl" | "csv";

/** Options of {@linkcode parseDataFile}. */
export interface ParseDataFileOptions {
  /** The file format. */
  format: DataFormat;
  /** Shape of one row's features, from the task. */
  featureShape: number[];
  /** Class names of the task, in index order. */
  labels: string[];
}

/** A data file that cannot be read; the message names the line. */
export class DataFileError extends SyntaxError {
  /** 1-based line number of the problem. */
  readonly line: number;

  /** Creates the error for `line`. */
  constructor(line: number, detail: string) {
    super(`Cannot read data: line ${line}: ${detail}`);
    this.name = "DataFileError";
    this.line = line;
  }
}

/**
 * Picks the format from a file name: `.jsonl`/`.ndjson` or `.csv`.
 *
 * @example
 * ```ts
 * import { formatOf } from "./data_file.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatOf("shard.csv"), "csv");
 * ```
 */
export function formatOf(path: string): DataFormat {
  if (/\.(jsonl|ndjson)$/i.test(path)) return "jsonl";
  if (/\.csv$/i.test(path)) return "csv";
  throw new TypeError(`Cannot read data: "${path}" is neither .jsonl, .ndjson nor .csv`);
}

function parseLabel(value: unknown, labels: string[], line: number): number {
  if (value === null || value === undefined || value === "") return -1;
  if (
    typeof value === "number" ||
    (typeof value === "string" && /^\d+$/.test(value) && !labels.includes(value))
  ) {
    const index = Number(value);
    if (!Number.isInteger(index) || index < 0 || index >= labels.length) {
      throw new DataFileError(
        line,
        `label "${value}" is not a class index in [0, ${labels.length - 1}]`,
      );
    }
    return index;
  }
  if (typeof value === "string") {
    const index = labels.indexOf(value);
    if (index < 0) {
      throw new DataFileError(line, `label "${value}" is not one of the task's labels`);
    }
    return index;
  }
  throw new DataFileError(
    line,
    `label must be a number, a string or null, got ${JSON.stringify(value)}`,
  );
}

/**
 * Parses a data file's text into a dataset.
 *
 * @example
 * ```ts
 * import { parseDataFile } from "./data_file.ts";
 * import assert from "node:assert/strict";
 * const text = '{"x": [0, 1], "label": 1}\n{"x": [1, 0]}\n';
 * const ds = parseDataFile(text, { format: "jsonl", featureShape: [2], labels: ["a", "b"] });
 * assert.deepEqual([...ds.labels], [1, -1]);
 * ```
 */
export function parseDataFile(text: string, options: ParseDataFileOptions): Dataset {
  const width = options.featureShape.reduce((a, b) => a * b, 1);
  const rows: number[][] = [];
  const labels: number[] = [];
  const lines = text.split(/\r?\n/);
  const features = (values: unknown[], line: number): number[] => {
    if (values.length !== width) {
      throw new DataFileError(line, `expected ${width} features, got ${values.length}`);
    }
    return values.map((v, i) => {
      const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
      if (typeof n !== "number" || !Number.isFinite(n)) {
        throw new DataFileError(line, `feature ${i} is ${JSON.stringify(v)}, not a finite number`);
      }
      return n;
    });
  };
  if (options.format === "jsonl") {
    lines.forEach((raw, i) => {
      if (raw.trim() === "") return;
      let row: unknown;
      try {
        row = JSON.parse(raw);
      } catch (error) {
        throw new DataFileError(
          i + 1,
          `invalid JSON: ${error instanceof Error ? error.message : error}`,
        );
      }
      if (!row || typeof row !== "object" || Array.isArray(row)) {
        throw new DataFileError(i + 1, 'expected an object with "x" and an optional "label"');
      }
      const { x, label } = row as { x?: unknown; label?: unknown };
      if (!Array.isArray(x)) throw new DataFileError(i + 1, '"x" must be an array of numbers');
      rows.push(features(x, i + 1));
      labels.push(parseLabel(label, options.labels, i + 1));
    });
  } else {
    const header = (lines[0] ?? "").split(",").map((c) => c.trim());
    if (header[0] !== "label") {
      throw new DataFileError(1, 'the header must start with a "label" column');
    }
    if (header.length !== width + 1) {
      throw new DataFileError(
        1,
        `expected ${width + 1} columns (label and ${width} features), got ${header.length}`,
      );
    }
    lines.slice(1).forEach((raw, i) => {
      if (raw.trim() === "") return;
      const cells = raw.split(",");
      if (cells.length !== width + 1) {
        throw new DataFileError(i + 2, `expected ${width + 1} columns, got ${cells.length}`);
      }
      labels.push(parseLabel(cells[0]!.trim(), options.labels, i + 2));
      rows.push(features(cells.slice(1), i + 2));
    });
  }
  if (rows.length === 0) throw new DataFileError(1, "the file holds no row");
  const x = new Float32Array(rows.length * width);
  rows.forEach((row, i) => x.set(row, i * width));
  return {
    x,
    labels: Int32Array.from(labels),
    featureShape: [...options.featureShape],
    numClasses: options.labels.length,
  };
}
