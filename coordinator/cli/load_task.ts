/**
 * Loading a task file (JSON or YAML): the model from its source, frozen
 * layers, initial weights and holdout data, with errors that name the problem.
 * @module
 */
import type { Relay } from "../federation/federation.ts";
import type * as tf from "@tensorflow/tfjs";
import { dirname, extname, isAbsolute, join, relative, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { readDataset } from "../../shared/data/read_data.ts";
import type { Dataset } from "../../shared/data/dataset.ts";
import { setTrainable } from "../../shared/model/freeze.ts";
import { withLora } from "../../shared/lora/apply_lora.ts";
import { buildModel, weightSpecs, writeWeights } from "../../shared/model/model.ts";
import { decodeSafetensors, type Float32Tensor } from "../../shared/wire/safetensors.ts";
import {
  formatZodError,
  type TaskConfig,
  TaskConfigSchema,
  type TaskFile,
  TaskFileSchema,
} from "../../shared/schemas/mod.ts";
import { readTfjsWeights, type TfjsModelJson } from "../../shared/model/tfjs_format.ts";
import { builtinModel } from "../../shared/tasks/mod.ts";
import { spamTransformerTask } from "../../shared/tasks/spam_transformer.ts";
import { brownTask } from "../../shared/tasks/brown.ts";
import { sequenceTopology } from "../../shared/tasks/sequence_model.ts";
import { checkVocabulary } from "../../shared/tokenizer/tokenizer.ts";
import { resolveSequenceInput } from "./_sequence_task.ts";

/** A task file that cannot be used; the message names the file and the problem. */
export class TaskFileError extends Error {
  /** Creates the error for the task file `source`. */
  constructor(source: string, detail: string) {
    super(`Cannot load task "${source}": ${detail}`);
    this.name = "TaskFileError";
  }
}

/** A task ready to serve. */
export interface LoadedTask {
  /** The task as served at /v1/task (frozen layers marked in the topology). */
  config: TaskConfig;
  /** Initial weights from a pretrained model or a safetensors file. @default none */
  weights?: Map<string, Float32Tensor>;
  /** Whether `weights` must cover every weight of the model (true for a pretrained model). @default false */
  weightsComplete?: boolean;
  /** Labeled rows to evaluate on. @default none */
  holdout?: Dataset;
  /** Labeled rows the coordinator fine-tunes on after each round (needs `serverTraining`). @default none */
  serverData?: Dataset;
  /** The file's `trainData` rows, read only when asked for (`readTrainData`). @default none */
  trainData?: Dataset;
  /** Edge mode: where rounds go, and the cloud's round and version to start at. @default none */
  relay?: Relay;
  start?: { round: number; version: number };
}

/** Options of {@linkcode resolveTaskFile}. */
export interface ResolveTaskFileOptions {
  /** Folder that relative paths in the task are relative to. */
  baseDir: string;
  /** Name of the task's source, for messages. @default "(inline)" */
  source?: string;
  /**
   * Refuse URLs and any path outside `baseDir` (for tasks that arrive over
   * HTTP, so a caller cannot make the coordinator read its other files).
   * @default false
   */
  confined?: boolean;
  /** Read the file's `trainData` rows too (for `deno task simulate --task`). @default false */
  readTrainData?: boolean;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function readBytes(location: string): Promise<Uint8Array> {
  if (/^https?:\/\//.test(location)) {
    const response = await fetch(location);
    if (!response.ok) throw new Error(`GET "${location}" answered ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  return await Deno.readFile(location);
}

/**
 * Reads a pretrained tfjs model (model.json and its weight files) from a
 * folder, a model.json path or an http(s) URL.
 *
 * @example
 * ```ts ignore
 * import { readPretrained } from "./load_task.ts";
 * const { topology, weights } = await readPretrained("examples/mnist-finetune/pretrained");
 * ```
 */
export async function readPretrained(
  location: string,
): Promise<{ topology: Record<string, unknown>; weights: Map<string, Float32Tensor> }> {
  const remote = /^https?:\/\//.test(location);
  let jsonPath = location;
  if (!remote && !location.endsWith(".json")) {
    const info = await Deno.stat(location).catch(() => null);
    if (info?.isDirectory) jsonPath = join(location, "model.json");
  }
  let modelJson: TfjsModelJson;
  let text: string;
  try {
    text = new TextDecoder().decode(await readBytes(jsonPath));
  } catch (error) {
    throw new Error(`cannot read model.json "${jsonPath}": ${message(error)}`);
  }
  try {
    modelJson = JSON.parse(text);
  } catch {
    // The parser's message would quote the file: say only what is wrong.
    throw new Error(`"${jsonPath}" is not a model.json (not valid JSON)`);
  }
  if (!modelJson.modelTopology || typeof modelJson.modelTopology !== "object") {
    throw new Error(`"${jsonPath}" has no modelTopology (is it a tfjs Layers model?)`);
  }
  const parts: Uint8Array[] = [];
  for (const group of modelJson.weightsManifest ?? []) {
    for (const path of group.paths) {
      const location = remote ? new URL(path, jsonPath).href : join(dirname(jsonPath), path);
      try {
        parts.push(await readBytes(location));
      } catch (error) {
        throw new Error(`missing weights file "${location}": ${message(error)}`);
      }
    }
  }
  const data = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    data.set(part, offset);
    offset += part.byteLength;
  }
  return { topology: modelJson.modelTopology, weights: readTfjsWeights(modelJson, data) };
}

/**
 * Parses a task file's text as YAML (`.yaml`, `.yml`) or JSON (`.json`).
 *
 * @example
 * ```ts
 * import { parseTaskText } from "./load_task.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseTaskText("id: a\n", "task.yaml"), { id: "a" });
 * ```
 */
export function parseTaskText(text: string, source: string): unknown {
  const ext = extname(source).toLowerCase();
  if (ext === ".yaml" || ext === ".yml") {
    try {
      return parseYaml(text);
    } catch (error) {
      throw new TaskFileError(source, `invalid YAML: ${message(error).split("\n")[0]}`);
    }
  }
  if (ext === ".json") {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new TaskFileError(source, `invalid JSON: ${message(error)}`);
    }
  }
  throw new TaskFileError(source, `expected a .yaml, .yml or .json file`);
}

/**
 * Validates a parsed task file and resolves it: the model's topology and
 * weights from their source, frozen layers, and holdout rows.
 *
 * @example
 * ```ts
 * import { resolveTaskFile } from "./load_task.ts";
 * import assert from "node:assert/strict";
 * const task = await resolveTaskFile({ id: "digits", model: { builtin: "mnist-mlp", frozen: ["dense1"] } }, { baseDir: "." });
 * assert.equal(task.config.input.shape[0], 784);
 * ```
 */
export async function resolveTaskFile(
  raw: unknown,
  options: ResolveTaskFileOptions,
): Promise<LoadedTask> {
  const source = options.source ?? "(inline)";
  const path = (p: string, field: string) => {
    const remote = /^https?:\/\//.test(p);
    const local = remote ? p : resolve(options.baseDir, p);
    if (options.confined) {
      const inside = relative(resolve(options.baseDir), local);
      if (remote || inside.startsWith("..") || isAbsolute(inside)) {
        throw new TaskFileError(
          source,
          `${field}: only paths inside the coordinator's task folder are allowed here`,
        );
      }
    }
    return local;
  };
  try {
    raw = await resolveSequenceInput(raw, path);
  } catch (error) {
    if (error instanceof TaskFileError) throw error;
    throw new TaskFileError(source, message(error));
  }
  const parsed = TaskFileSchema.safeParse(raw);
  if (!parsed.success) throw new TaskFileError(source, formatZodError(parsed.error));
  const file: TaskFile = parsed.data;

  let topology: Record<string, unknown>;
  let input = file.input;
  let weights: Map<string, Float32Tensor> | undefined;
  let builtinHoldout: Dataset | undefined;
  let training = file.training;
  if (file.model.builtin === "brown-lm" || file.model.builtin === "brown-pos") {
    // The corpus's own holdout (whole documents) unless the file gives one.
    const brown = await brownTask(file.model.builtin);
    topology = brown.config.model.topology;
    input ??= brown.config.input;
    training ??= brown.config.training;
    builtinHoldout = brown.holdout;
  } else if (file.model.builtin === "spam-transformer") {
    // The corpus's held-out e-mails unless the file gives a holdout.
    const spam = await spamTransformerTask();
    topology = spam.config.model.topology;
    input ??= spam.config.input;
    training ??= spam.config.training;
    builtinHoldout = spam.holdout;
  } else if (file.model.builtin) {
    const builtin = builtinModel(file.model.builtin);
    topology = builtin.topology;
    input ??= builtin.input;
  } else if (file.model.topology) {
    topology = file.model.topology;
  } else if (file.model.transformer) {
    if (!input) throw new TaskFileError(source, "input: required unless the model is built in");
    try {
      topology = await sequenceTopology(input, file.model.transformer);
    } catch (error) {
      throw new TaskFileError(source, `model.transformer: ${message(error)}`);
    }
  } else {
    try {
      ({ topology, weights } = await readPretrained(
        path(file.model.pretrained!, "model.pretrained"),
      ));
    } catch (error) {
      if (error instanceof TaskFileError) throw error;
      throw new TaskFileError(source, `model.pretrained: ${message(error)}`);
    }
  }
  if (!input) throw new TaskFileError(source, "input: required unless the model is built in");
  if (file.model.weights) {
    try {
      const decoded =
        decodeSafetensors(await readBytes(path(file.model.weights, "model.weights"))).tensors;
      weights = new Map([...(weights ?? []), ...decoded]);
    } catch (error) {
      if (error instanceof TaskFileError) throw error;
      throw new TaskFileError(source, `model.weights: ${message(error)}`);
    }
  }
  if (file.model.lora) {
    try {
      topology = withLora(topology, file.model.lora, file.model.seed);
    } catch (error) {
      throw new TaskFileError(source, `model.lora: ${message(error)}`);
    }
  }
  try {
    topology = setTrainable(topology, {
      trainable: file.model.trainable,
      frozen: file.model.frozen,
    });
  } catch (error) {
    throw new TaskFileError(
      source,
      `model.${file.model.trainable ? "trainable" : "frozen"}: ${message(error)}`,
    );
  }
  const config = TaskConfigSchema.safeParse({
    id: file.id,
    model: { topology, seed: file.model.seed },
    input,
    training,
    rounds: file.rounds,
    aggregation: file.aggregation,
    serverTraining: file.serverTraining,
    codec: file.codec,
    updates: file.updates,
    secureAggregation: file.secureAggregation,
    privacy: file.privacy,
  });
  if (!config.success) throw new TaskFileError(source, formatZodError(config.error));
  const vocabulary = config.data.input.sequence?.vocabulary;
  if (vocabulary) {
    await checkVocabulary(vocabulary).catch((error) => {
      throw new TaskFileError(source, `input.sequence.vocabulary: ${message(error)}`);
    });
  }
  const rows = async (
    field: "holdout" | "serverData" | "trainData",
  ): Promise<Dataset | undefined> => {
    const location = file[field];
    if (!location) return undefined;
    try {
      return await readDataset(path(location, field), config.data.input);
    } catch (error) {
      if (error instanceof TaskFileError) throw error;
      throw new TaskFileError(source, `${field}: ${message(error)}`);
    }
  };
  const holdout = await rows("holdout") ?? builtinHoldout;
  const serverData = await rows("serverData");
  const trainData = options.readTrainData ? await rows("trainData") : undefined;
  return {
    config: config.data,
    serverData,
    trainData,
    weights,
    weightsComplete: file.model.pretrained !== undefined,
    holdout,
  };
}

/**
 * Reads, validates and resolves a task file.
 *
 * @example
 * ```ts ignore
 * import { loadTaskFile } from "./load_task.ts";
 * const task = await loadTaskFile("examples/mnist-finetune/task.yaml");
 * ```
 */
export async function loadTaskFile(
  path: string,
  options: Pick<ResolveTaskFileOptions, "readTrainData"> = {},
): Promise<LoadedTask> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new TaskFileError(path, message(error));
  }
  return await resolveTaskFile(parseTaskText(text, path), {
    baseDir: dirname(path),
    source: path,
    ...options,
  });
}

/**
 * Builds a task's model and writes its initial weights, checking that they
 * fit the topology: every given weight must exist with the same shape, and a
 * pretrained model must give them all (a weights file may give some).
 *
 * @example
 * ```ts
 * import { buildTaskModel, resolveTaskFile } from "./load_task.ts";
 * import assert from "node:assert/strict";
 * const task = await resolveTaskFile({ id: "digits", model: { builtin: "mnist-mlp" } }, { baseDir: "." });
 * const model = await buildTaskModel(task);
 * assert.equal(model.weights.length, 6);
 * ```
 */
export async function buildTaskModel(
  task: LoadedTask,
  source = task.config.id,
): Promise<tf.LayersModel> {
  let model: tf.LayersModel;
  try {
    model = await buildModel(task.config.model.topology, { seed: task.config.model.seed });
  } catch (error) {
    throw new TaskFileError(source, `model: ${message(error)}`);
  }
  if (!task.weights) return model;
  const specs = new Map(weightSpecs(model).map((w) => [w.name, w.shape]));
  const problems: string[] = [];
  for (const [name, tensor] of task.weights) {
    const shape = specs.get(name);
    if (!shape) problems.push(`"${name}" is in the weights but not in the topology`);
    else if (shape.join() !== tensor.shape.join()) {
      problems.push(`"${name}" is [${tensor.shape}] in the weights, [${shape}] in the topology`);
    }
  }
  for (const name of task.weightsComplete ? specs.keys() : []) {
    // Adapters are new: A from its seed, B zeros.
    if (!task.weights.has(name) && !/\/lora_[AB]$/.test(name)) {
      problems.push(`"${name}" is in the topology but not in the weights`);
    }
  }
  if (problems.length > 0) {
    model.dispose();
    throw new TaskFileError(
      source,
      `shape mismatch between topology and weights: ${problems.join("; ")}`,
    );
  }
  writeWeights(model, task.weights);
  return model;
}
