/**
 * Reads a client's local data: a data file, or a folder of image or text files.
 * @module
 */
import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { type Dataset, featureSize } from "./dataset.ts";
import { DataFileError, formatOf, parseDataFile, parseLabelsCsv } from "./data_file.ts";
import { decodeImage, preprocessImage } from "../preprocess/image.ts";
import { encodeText } from "../preprocess/text.ts";
import { classCount, type InputSpec, predictsTokens } from "../schemas/mod.ts";
import { type SequenceExample, SequenceExampleError, sequenceRows } from "./sequence_rows.ts";

const IMAGE_FILE = /\.(png|jpe?g)$/i;
const TEXT_FILE = /\.txt$/i;

/** One file of a folder and its label index, -1 for none. */
interface Item {
  /** Path relative to the folder, with `/` between parts. */
  name: string;
  path: string;
  label: number;
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Reads a dataset for a task with input `input` from `path`:
 *
 * - a data file (`.jsonl`, `.ndjson`, `.csv`; see {@linkcode parseDataFile}),
 * - or, for image tasks (`input.image`), a folder of `.png`, `.jpg` and
 *   `.jpeg` files, and for text and sequence tasks (`input.text`,
 *   `input.sequence`), a folder of UTF-8 `.txt` files, each file one row (a
 *   sequence task's text: one or more windows), labeled in one of these ways
 *   (a language model's files need no label):
 *   - a `labels.csv` in the folder, header `file,label`, `file` relative to the
 *     folder (`cats/1.png`); an empty label, or a file not listed, is an
 *     unlabeled row; a label is a class name or index, as in data files;
 *   - otherwise, one sub-folder per class name (files in it, at any depth, are
 *     labeled by it) and files directly in the folder unlabeled; a sub-folder
 *     with such files whose name is not a class name is an error;
 *   - no sub-folder and no `labels.csv`: every row unlabeled.
 *
 * Other files, and names starting with `.`, are skipped. Rows are in the order
 * of their paths. Errors name the file.
 *
 * @example
 * ```ts ignore
 * import { readDataset } from "./read_data.ts";
 * const input = {
 *   shape: [28, 28, 1],
 *   labels: ["cat", "dog"],
 *   image: { width: 28, height: 28, channels: 1 as const, scale: "0,1" as const, invert: true },
 * };
 * const dataset = await readDataset("photos/", input); // photos/cat/*.jpg, photos/dog/*.jpg
 * ```
 */
export async function readDataset(path: string, input: InputSpec): Promise<Dataset> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new Error(`Cannot read data "${path}": ${reason(error)}`, { cause: error });
  }
  if (!info.isDirectory()) return await readDataFile(path, input);
  if (!input.image && !input.text && !input.sequence) {
    throw new TypeError(
      `Cannot read data "${path}": a folder holds image or text files, but the task takes neither`,
    );
  }
  if (input.sequence) return await readSequenceFolder(path, input);
  const items = await listFolder(path, input);
  const width = featureSize({ featureShape: input.shape });
  const x = new Float32Array(items.length * width);
  for (const [i, item] of items.entries()) {
    const row = input.image ? await readImage(item.path, input) : await readText(item.path, input);
    if (row.length !== width) {
      throw new TypeError(
        `Cannot read data "${item.path}": ${row.length} values do not fill shape [${input.shape}]`,
      );
    }
    x.set(row, i * width);
  }
  return {
    x,
    labels: Int32Array.from(items, (item) => item.label),
    featureShape: [...input.shape],
    numClasses: classCount(input),
  };
}

/** A sequence task's folder of `.txt` files: each file one text (a language model's files are all unlabeled). */
async function readSequenceFolder(path: string, input: InputSpec): Promise<Dataset> {
  const model = predictsTokens(input.sequence!.kind);
  const items = model
    ? await listFolder(path, { ...input, labels: [] }, true)
    : await listFolder(path, input);
  const examples: SequenceExample[] = [];
  for (const item of items) {
    const text = await readUtf8(item.path);
    examples.push(item.label >= 0 ? { text, label: item.label } : { text });
  }
  try {
    return sequenceRows(examples, input, (index) => `"${items[index]!.path}"`);
  } catch (error) {
    if (!(error instanceof SequenceExampleError)) throw error;
    throw new Error(`Cannot read data ${error.message}`, { cause: error });
  }
}

async function readDataFile(path: string, input: InputSpec): Promise<Dataset> {
  const format = formatOf(path);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new Error(`Cannot read data "${path}": ${reason(error)}`, { cause: error });
  }
  try {
    return parseDataFile(text, { format, input });
  } catch (error) {
    const detail = reason(error).replace(/^Cannot read data: /, "");
    throw new Error(`Cannot read data "${path}": ${detail}`, { cause: error });
  }
}

async function readImage(path: string, input: InputSpec): Promise<Float32Array> {
  try {
    return preprocessImage(decodeImage(await readFile(path)), input.image!);
  } catch (error) {
    const detail = reason(error).replace(/^Cannot (decode|preprocess) image: /, "");
    throw new Error(`Cannot read image "${path}": ${detail}`, { cause: error });
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

async function readUtf8(path: string): Promise<string> {
  try {
    return utf8.decode(await readFile(path));
  } catch (error) {
    const detail = error instanceof TypeError ? "not valid UTF-8" : reason(error);
    throw new Error(`Cannot read text "${path}": ${detail}`, { cause: error });
  }
}

async function readText(path: string, input: InputSpec): Promise<Float32Array> {
  return encodeText(await readUtf8(path), input.text!);
}

/** Every file of the folder, at any depth, that the task reads, sorted by name. */
async function listFolder(
  folder: string,
  input: InputSpec,
  unlabeled = false,
): Promise<Item[]> {
  const wanted = input.image ? IMAGE_FILE : TEXT_FILE;
  const files: { name: string; path: string; top: boolean }[] = [];
  const seen = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      // Followed links may lead back up: read each folder once.
      const real = await realpath(dir);
      if (seen.has(real)) return;
      seen.add(real);
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      throw new Error(`Cannot read data "${dir}": ${reason(error)}`, { cause: error });
    }
    for (const entry of entries) {
      if (entry.name.startsWith(".")) continue;
      const path = join(dir, entry.name);
      let isDirectory = entry.isDirectory(), isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await stat(path).catch(() => null);
        isDirectory = target?.isDirectory() ?? false;
        isFile = target?.isFile() ?? false;
      }
      if (isDirectory) await walk(path);
      else if (isFile && wanted.test(entry.name)) {
        files.push({ name: relative(folder, path).split(sep).join("/"), path, top: false });
      }
    }
  };
  await walk(folder);
  for (const file of files) file.top = !file.name.includes("/");
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const kinds = input.image ? ".png, .jpg or .jpeg" : ".txt";
  if (files.length === 0) {
    throw new Error(`Cannot read data "${folder}": the folder holds no ${kinds} file`);
  }

  if (unlabeled) return files.map((f) => ({ ...f, label: -1 }));
  const labelsPath = join(folder, "labels.csv");
  const listed = await readLabelsCsv(labelsPath, input.labels);
  if (listed) {
    const names = new Set(files.map((f) => f.name));
    for (const [name, { line }] of listed) {
      if (!names.has(name)) {
        throw new Error(
          `Cannot read data "${labelsPath}": line ${line}: "${name}" is not a ${kinds} file in the folder`,
        );
      }
    }
    return files.map((f) => ({ ...f, label: listed.get(f.name)?.label ?? -1 }));
  }
  return files.map((f) => {
    if (f.top) return { ...f, label: -1 };
    const sub = f.name.slice(0, f.name.indexOf("/"));
    const label = input.labels.indexOf(sub);
    if (label < 0) {
      throw new Error(
        `Cannot read data "${
          join(folder, sub)
        }": the sub-folder "${sub}" is not one of the task's labels (${input.labels.join(", ")})`,
      );
    }
    return { ...f, label };
  });
}

/**
 * The labels of `labels.csv` by file name, or null when there is no such file.
 * Labels are read as in data files: a class name, or an index, empty for none.
 */
async function readLabelsCsv(
  path: string,
  names: string[],
): Promise<Map<string, { label: number; line: number }> | null> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return null;
    throw new Error(`Cannot read data "${path}": ${reason(error)}`, { cause: error });
  }
  try {
    return parseLabelsCsv(text, names);
  } catch (error) {
    if (!(error instanceof DataFileError)) throw error;
    throw new Error(
      `Cannot read data "${path}": line ${error.line}: ${
        reason(error).replace(/^Cannot read data: line \d+: /, "")
      }`,
      { cause: error },
    );
  }
}
