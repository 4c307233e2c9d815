/**
 * What a simulation trains on: a built-in task with its data, or a task
 * file's model with its `trainData` and `holdout` rows; and a task file's
 * training settings as the simulation's defaults.
 * @module
 */
import { loadTaskFile, parseTaskText } from "../coordinator/cli/load_task.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import type { Float32Tensor } from "../shared/wire/safetensors.ts";
import { type TaskConfig, TaskConfigSchema } from "../shared/schemas/mod.ts";
import { mnistCnnTopology } from "../shared/tasks/mnist_cnn.ts";
import { mnistMlpTopology } from "../shared/tasks/mnist_mlp.ts";
import { builtinModel } from "../shared/tasks/mod.ts";
import { isTaskFile, type SimulationConfig } from "./config.ts";
import type { SimulationData } from "./run_arm.ts";

/**
 * A task file's training settings, as the simulation's defaults (flags and presets win).
 *
 * @example
 * ```ts
 * import { taskFileTraining } from "./simulation_task.ts";
 * import assert from "node:assert/strict";
 * assert.equal((await taskFileTraining("examples/iris/task.yaml")).learningRate, 0.01);
 * ```
 */
export async function taskFileTraining(path: string): Promise<Record<string, unknown>> {
  const text = await Deno.readTextFile(path).catch((error) => {
    throw new Error(`cannot read "${path}": ${error.message}`);
  });
  const file = parseTaskText(text, path);
  const training = (file as { training?: unknown }).training;
  if (!training || typeof training !== "object") return {};
  const fields = [
    "alpha",
    "unlabeledAlpha",
    "priorAlignment",
    "alphaRampUpRounds",
    "labeledBatchSize",
    "unlabeledBatchSize",
    "localSteps",
    "learningRate",
  ];
  return Object.fromEntries(Object.entries(training).filter(([key]) => fields.includes(key)));
}

/** The task and rows of a simulation. */
export interface LoadedSimulationTask {
  base: TaskConfig;
  data: SimulationData;
  /** A task file's initial weights (a pretrained model or a weights file). */
  weights?: Map<string, Float32Tensor>;
}

/**
 * The task and rows `config.task` names.
 *
 * @throws {Error} A task file without labeled `trainData` or without `holdout`, or one that does not load.
 *
 * @example
 * ```ts ignore
 * import { loadSimulationTask } from "./simulation_task.ts";
 * import { SimulationConfigSchema } from "./config.ts";
 * const { base, data } = await loadSimulationTask(SimulationConfigSchema.parse({ task: "examples/iris/task.yaml" }));
 * ```
 */
export async function loadSimulationTask(config: SimulationConfig): Promise<LoadedSimulationTask> {
  if (isTaskFile(config.task)) {
    const task = await loadTaskFile(config.task, { readTrainData: true });
    if (!task.trainData) {
      throw new Error(
        `${config.task}: give trainData, the labeled rows to spread over the simulated clients`,
      );
    }
    if (!task.holdout) {
      throw new Error(`${config.task}: give holdout, the labeled rows every arm is scored on`);
    }
    const unlabeled = task.trainData.labels.findIndex((label) => label < 0);
    if (unlabeled >= 0) {
      throw new Error(
        `${config.task}: trainData row ${
          unlabeled + 1
        } has no label; the simulation needs them all (it hides all but --labeled of them)`,
      );
    }
    return {
      base: task.config,
      data: { train: task.trainData, holdout: task.holdout },
      weights: task.weights,
    };
  }
  if (config.task === "brown-lm" || config.task === "brown-pos") {
    const { brownTask, mostFrequentTagAccuracy } = await import("../shared/tasks/brown.ts");
    const brown = await brownTask(config.task);
    const tagging = config.task === "brown-pos";
    return {
      base: brown.config,
      data: {
        train: brown.train,
        holdout: brown.holdout,
        groups: { ofRow: brown.genreOfRow, names: brown.genres },
        ...(tagging
          ? {
            baselines: {
              "most-frequent tag of each word (every training tag)": mostFrequentTagAccuracy(
                brown.train,
                brown.holdout,
              ),
            },
          }
          : {}),
      },
    };
  }
  if (config.task === "spam-transformer") {
    const { spamTransformerTask } = await import("../shared/tasks/spam_transformer.ts");
    const spam = await spamTransformerTask();
    return { base: spam.config, data: { train: spam.train, holdout: spam.holdout } };
  }
  if (config.task === "spam-text") {
    const { spamTextTask } = await import("../shared/tasks/spam_text.ts");
    const { loadSpamSplit } = await import("../shared/data/spam.ts");
    const base = spamTextTask({ dropout: config.dropout });
    return { base, data: await loadSpamSplit({ text: base.input.text! }) };
  }
  const topology = config.task === "mnist-cnn"
    ? mnistCnnTopology({ dropout: config.dropout })
    : mnistMlpTopology({ dropout: config.dropout });
  const base = TaskConfigSchema.parse({
    id: config.task,
    model: { topology },
    input: builtinModel(config.task).input,
  });
  return { base, data: await loadMnistSplit() };
}
