/**
 * Reads the files a person picks on the client page into rows, in the
 * browser: one data file (`.csv`, `.jsonl`, `.ndjson`), image files (`.png`,
 * `.jpg`, `.jpeg`) with an optional `labels.csv`, or, for a text task, plain
 * `.txt` files; and text a person pastes. Nothing is uploaded: the rows stay
 * in the page's worker.
 * @module
 */
import type { Dataset } from "../../shared/data/dataset.ts";
import {
  DataFileError,
  formatOf,
  parseDataFile,
  parseLabelsCsv,
} from "../../shared/data/data_file.ts";
import { decodeImage, preprocessImage } from "../../shared/preprocess/image.ts";
import { classCount, type InputSpec } from "../../shared/schemas/mod.ts";
import { elementCount } from "../../shared/shape.ts";
import { type SequenceExample, sequenceRows } from "../../shared/data/sequence_rows.ts";

const IMAGE_FILE = /\.(png|jpe?g)$/i;
const DATA_FILE = /\.(csv|jsonl|ndjson)$/i;
const TEXT_FILE = /\.txt$/i;

/** A picked file: its name and a way to read it (a `File` is one). */
export interface PickedFile {
  name: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Rows from picked files for a task with input `input`:
 *
 * - one `.csv`, `.jsonl` or `.ndjson` file in the documented data-file format;
 * - or image files, for image tasks, each one row, labeled by a `labels.csv`
 *   among the picked files (header `file,label`); images it does not list,
 *   or all images when there is no `labels.csv`, are unlabeled rows.
 *
 * - or, for a text task (`input.sequence`), `.txt` files, each one text
 *   without a label (a language model's, or unlabeled rows of a classifier).
 *
 * Errors name the file and, for text files, the line.
 *
 * @example
 * ```ts
 * import { readPickedFiles } from "./read_files.ts";
 * import assert from "node:assert/strict";
 * const file = { name: "rows.jsonl", arrayBuffer: async () => new TextEncoder().encode('{"x":[1,2],"label":"b"}\n').buffer };
 * const rows = await readPickedFiles([file], { shape: [2], labels: ["a", "b"] });
 * assert.deepEqual([...rows.labels], [1]);
 * ```
 */
export async function readPickedFiles(files: PickedFile[], input: InputSpec): Promise<Dataset> {
  if (files.length === 0) throw new Error("Cannot read data: no file was picked");
  const images = files.filter((f) => IMAGE_FILE.test(f.name));
  const labelsFile = files.find((f) => f.name.toLowerCase() === "labels.csv");
  const dataFiles = files.filter((f) => DATA_FILE.test(f.name) && f !== labelsFile);
  const texts = files.filter((f) => TEXT_FILE.test(f.name));
  if (texts.length) {
    if (texts.length !== files.length) {
      throw new Error("Cannot read data: pick .txt files, or one data file, or images, not a mix");
    }
    if (!input.sequence) {
      throw new Error(
        "Cannot read data: this task does not take text; pick a .csv or .jsonl file, or images",
      );
    }
    const examples: SequenceExample[] = [];
    for (const file of texts) {
      examples.push({ text: new TextDecoder().decode(await file.arrayBuffer()) });
    }
    return sequenceRows(examples, input, (i) => `Cannot read "${texts[i]!.name}"`);
  }
  const other = files.filter((f) =>
    !images.includes(f) && !dataFiles.includes(f) && f !== labelsFile
  );
  if (other.length) {
    throw new Error(
      `Cannot read "${
        other[0]!.name
      }": expected .png, .jpg or .jpeg images (with a labels.csv), one .csv, .jsonl or .ndjson file, or .txt files (text tasks)`,
    );
  }
  if (dataFiles.length) {
    if (dataFiles.length > 1 || images.length) {
      throw new Error("Cannot read data: pick one data file, or image files, not both");
    }
    const file = dataFiles[0]!;
    const text = new TextDecoder().decode(await file.arrayBuffer());
    try {
      return parseDataFile(text, { format: formatOf(file.name), input });
    } catch (error) {
      throw new Error(
        `Cannot read "${file.name}": ${reason(error).replace(/^Cannot read data: /, "")}`,
      );
    }
  }
  if (images.length === 0) {
    throw new Error('Cannot read data: "labels.csv" labels images, but no image was picked');
  }
  if (!input.image) {
    throw new Error("Cannot read data: this task does not take images; pick a .csv or .jsonl file");
  }
  let listed = new Map<string, { label: number; line: number }>();
  if (labelsFile) {
    const text = new TextDecoder().decode(await labelsFile.arrayBuffer());
    try {
      listed = parseLabelsCsv(text, input.labels);
    } catch (error) {
      if (!(error instanceof DataFileError)) throw error;
      throw new Error(
        `Cannot read "labels.csv": ${reason(error).replace(/^Cannot read data: /, "")}`,
      );
    }
    const names = new Set(images.map((f) => f.name));
    for (const [name, { line }] of listed) {
      if (!names.has(name)) {
        throw new Error(`Cannot read "labels.csv": line ${line}: "${name}" is not a picked image`);
      }
    }
  }
  const sorted = [...images].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const width = elementCount(input.shape);
  const x = new Float32Array(sorted.length * width);
  for (const [i, file] of sorted.entries()) {
    let row: Float32Array;
    try {
      row = preprocessImage(decodeImage(new Uint8Array(await file.arrayBuffer())), input.image);
    } catch (error) {
      throw new Error(
        `Cannot read image "${file.name}": ${
          reason(error).replace(/^Cannot (decode|preprocess) image: /, "")
        }`,
      );
    }
    if (row.length !== width) {
      throw new Error(
        `Cannot read image "${file.name}": ${row.length} values do not fill shape [${input.shape}]`,
      );
    }
    x.set(row, i * width);
  }
  return {
    x,
    labels: Int32Array.from(sorted, (f) => listed.get(f.name)?.label ?? -1),
    featureShape: [...input.shape],
    numClasses: classCount(input),
  };
}

/**
 * Rows from text a person pasted, for a text task (`input.sequence`): each
 * non-empty line one text without a label.
 *
 * @example
 * ```ts
 * import { readPastedText } from "./read_files.ts";
 * import { buildVocabulary } from "../../shared/tokenizer/tokenizer.ts";
 * import assert from "node:assert/strict";
 * const vocabulary = await buildVocabulary(["the cat sat"], { minCount: 1 });
 * const input = { shape: [8], labels: [], sequence: { kind: "masked-language-model" as const, maxLength: 8, vocabulary } };
 * const rows = readPastedText("The cat sat.\n\nThe cat", input);
 * assert.equal(rows.x.length, 2 * 8); // two lines, a row each
 * ```
 */
export function readPastedText(text: string, input: InputSpec): Dataset {
  if (!input.sequence) {
    throw new Error("Cannot read the pasted text: this task does not take text; pick files");
  }
  const lines = text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
  if (lines.length === 0) throw new Error("Cannot read the pasted text: it is empty");
  return sequenceRows(
    lines.map((line) => ({ text: line })),
    input,
    (i) => `Cannot read the pasted text: line ${i + 1}`,
  );
}
