/**
 * The data file format of clients: JSONL or CSV rows with an optional label.
 * A row without a label is an unlabeled row.
 *
 * JSONL, one object a line: `{"x": [0, 0.5, ...], "label": 3}`; `label` may be
 * a class index, a class name of the task, `null` or missing.
 *
 * CSV, a header line `label,x0,x1,...` then one row a line; an empty label
 * cell is an unlabeled row.
 *
 * Text tasks (the task input has `text`) give text instead of features, which
 * becomes token ids as the task says ({@linkcode encodeText}): JSONL rows
 * `{"text": "a fine film", "label": "pos"}`, and CSV files with the header
 * `label,text` and RFC 4180 quoting (a quoted field may hold commas, doubled
 * quotes and line breaks; errors name the line its row starts on).
 *
 * Sequence tasks (the task input has `sequence`) take JSONL rows as
 * `shared/data/sequence_rows.ts` describes them (`{"text": ...}`,
 * `{"tokens": [...], "tags": [...]}`, `{"text": ..., "label": ...}`), and
 * for sequence classification the same `label,text` CSV.
 * @module
 */
import type { Dataset } from "./dataset.ts";
import { encodeText } from "../preprocess/text.ts";
import type { InputSpec } from "../schemas/mod.ts";
import { elementCount } from "../shape.ts";
import { DataFileError, parseCsv, parseLabelTextCsv } from "./csv.ts";
import { parseSequenceFile } from "./sequence_file.ts";

export { type CsvRecord, DataFileError, parseCsv } from "./csv.ts";

/** Formats of {@linkcode parseDataFile}. */
export type DataFormat = "jsonl" | "csv";

/** Options of {@linkcode parseDataFile}. */
export interface ParseDataFileOptions {
  /** The file format. */
  format: DataFormat;
  /**
   * The task's input: the shape of one row's features, the class names in
   * index order and, for text tasks, how text becomes token ids.
   */
  input: InputSpec;
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
 * Parses a `labels.csv` that labels files by name: header `file,label`, one
 * file per line, the label a class name or index (empty for an unlabeled
 * row). Names are normalised to `/` separators without a leading `./`.
 * Errors are {@linkcode DataFileError}s naming the line.
 *
 * @example
 * ```ts
 * import { parseLabelsCsv } from "./data_file.ts";
 * import assert from "node:assert/strict";
 * const labels = parseLabelsCsv("file,label\na.png,dog\nb.png,\n", ["cat", "dog"]);
 * assert.deepEqual([...labels].map(([name, { label }]) => [name, label]), [["a.png", 1], ["b.png", -1]]);
 * ```
 */
export function parseLabelsCsv(
  text: string,
  names: string[],
): Map<string, { label: number; line: number }> {
  const [header, ...records] = parseCsv(text.replace(/^\uFEFF/, ""));
  const columns = header?.fields.map((c) => c.trim());
  if (!columns || columns.length !== 2 || columns[0] !== "file" || columns[1] !== "label") {
    throw new DataFileError(header?.line ?? 1, 'the header must be "file,label"');
  }
  const labels = new Map<string, { label: number; line: number }>();
  for (const { line, fields } of records) {
    if (fields.length === 1 && fields[0]!.trim() === "") continue;
    if (fields.length !== 2) {
      throw new DataFileError(line, `expected 2 columns (file and label), got ${fields.length}`);
    }
    const name = fields[0]!.trim().replaceAll("\\", "/").replace(/^\.\//, "");
    if (labels.has(name)) throw new DataFileError(line, `"${name}" is listed twice`);
    labels.set(name, { label: labelsCsvIndex(fields[1]!.trim(), names, line), line });
  }
  return labels;
}

function labelsCsvIndex(value: string, names: string[], line: number): number {
  if (value === "") return -1;
  const index = names.indexOf(value);
  if (index >= 0) return index;
  if (/^\d+$/.test(value) && Number(value) < names.length) return Number(value);
  throw new DataFileError(
    line,
    `label "${value}" is not one of the task's labels (${names.join(", ")})`,
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
 * const ds = parseDataFile(text, { format: "jsonl", input: { shape: [2], labels: ["a", "b"] } });
 * assert.deepEqual([...ds.labels], [1, -1]);
 * ```
 *
 * @example Text
 * ```ts
 * import { parseDataFile } from "./data_file.ts";
 * import assert from "node:assert/strict";
 * const text = 'label,text\npos,"Great, truly great"\n,meh\n';
 * const input = {
 *   shape: [4],
 *   labels: ["neg", "pos"],
 *   text: { vocabSize: 1000, maxLength: 4, lowercase: true },
 * };
 * const ds = parseDataFile(text, { format: "csv", input });
 * assert.deepEqual([...ds.labels], [1, -1]);
 * assert.equal(ds.x[3], 0); // three words, then padding
 * ```
 */
export function parseDataFile(text: string, options: ParseDataFileOptions): Dataset {
  if (options.input.sequence) return parseSequenceFile(text, options);
  const { shape, labels: names, text: textSpec } = options.input;
  const width = elementCount(shape);
  if (textSpec && textSpec.maxLength !== width) {
    throw new TypeError(
      `Cannot read data: text maxLength "${textSpec.maxLength}" does not equal the ${width} values of shape [${shape}]`,
    );
  }
  const rows: ArrayLike<number>[] = [];
  const labels: number[] = [];
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
    const expected = textSpec
      ? 'expected an object with "text" and an optional "label"'
      : 'expected an object with "x" and an optional "label"';
    text.split(/\r?\n/).forEach((raw, i) => {
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
        throw new DataFileError(i + 1, expected);
      }
      const { x, text: value, label } = row as { x?: unknown; text?: unknown; label?: unknown };
      if (textSpec) {
        if (typeof value !== "string") throw new DataFileError(i + 1, '"text" must be a string');
        rows.push(encodeText(value, textSpec));
      } else {
        if (!Array.isArray(x)) throw new DataFileError(i + 1, '"x" must be an array of numbers');
        rows.push(features(x, i + 1));
      }
      labels.push(parseLabel(label, names, i + 1));
    });
  } else if (textSpec) {
    for (const record of parseLabelTextCsv(text)) {
      labels.push(parseLabel(record.label, names, record.line));
      rows.push(encodeText(record.text, textSpec));
    }
  } else {
    const lines = text.split(/\r?\n/);
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
      labels.push(parseLabel(cells[0]!.trim(), names, i + 2));
      rows.push(features(cells.slice(1), i + 2));
    });
  }
  if (rows.length === 0) throw new DataFileError(1, "the file holds no row");
  const x = new Float32Array(rows.length * width);
  rows.forEach((row, i) => x.set(row, i * width));
  return {
    x,
    labels: Int32Array.from(labels),
    featureShape: [...shape],
    numClasses: names.length,
  };
}
