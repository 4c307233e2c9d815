/**
 * A client's life: join, train each round on the current global, send the
 * delta, until the run finishes.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { countRows, type Dataset, featureSize, reshapeRows } from "../shared/data/dataset.ts";
import { buildModel, readWeightsAsync, writeWeights } from "../shared/model/model.ts";
import type { Float32Tensor } from "../shared/wire/safetensors.ts";
import { classCount, type TaskResponse } from "../shared/schemas/mod.ts";
import { checkVocabulary } from "../shared/tokenizer/tokenizer.ts";
import { maskedTokensOf } from "../shared/tokenizer/masking.ts";
import {
  CoordinatorClient,
  CoordinatorError,
  encodeUpdateBody,
  isRetriable,
  type UpdateInfo,
} from "./link/coordinator_client.ts";
import { ErrorFeedback } from "../shared/wire/codec.ts";
import { LocalTrainer, type StepProgress, type TrainResult } from "./training/trainer.ts";
import { Evaluator } from "../shared/model/evaluate.ts";
import { describeRuntime } from "../shared/runtime.ts";
import { secureInput, secureSubmit } from "./link/secure_submit.ts";

/** What a client reports while it runs. */
export type ClientEvent =
  | { kind: "joined"; task: TaskResponse }
  | { kind: "step"; round: number; progress: StepProgress }
  | {
    kind: "sent";
    round: number;
    result: TrainResult;
    /** Updates in so far; a secure round: the survivors among this client's neighbours. */
    received: number;
    targetClients: number;
    /** Sent as a masked input (secure aggregation) and summed. */
    secure?: boolean;
  }
  | { kind: "rejected"; round: number; status: number; message: string }
  | { kind: "retry"; message: string; delayMs: number }
  | { kind: "finished" };

/** Options of {@linkcode runClient}. */
export interface RunClientOptions {
  /** The coordinator's base URL. */
  coordinator: string;
  /** The task to join. @default the coordinator's default task */
  taskId?: string;
  /** This client's rows; labels of -1 are unlabeled rows. */
  dataset: Dataset;
  /** Name the client sends its updates under. @default a random id (or the enrolled one) */
  clientId?: string;
  /** This client's bearer token (a coordinator with authentication). @default none */
  token?: string;
  /** An enrolment token: the client enrols first (as `clientId`) and uses the token it gets. @default none */
  enrolmentToken?: string;
  /** The `fetch` to call, e.g. one that trusts the coordinator's CA (`fetchTrusting`). @default fetch */
  fetch?: typeof fetch;
  /** Backend name reported in updates. @default "wasm" */
  backend?: string;
  /** The device the backend runs on, reported in updates. @default none */
  device?: string | null;
  /** The runtime reported in updates. @default {@linkcode describeRuntime} */
  runtime?: string;
  /**
   * Seed of batch sampling and, when given, of the dropout masks (mixed with
   * the client's id, so a run reproduces and clients sharing a seed still
   * differ). @default batches from seed 0, masks from fresh entropy
   */
  seed?: number;
  /**
   * A sequence task: the hash of the vocabulary `dataset` was tokenized with;
   * a task serving another is refused with the reason. @default the task's
   * own (the rows were tokenized with the vocabulary it serves)
   */
  vocabularyHash?: string;
  /** How often to ask whether a new round opened, in ms. @default 200 */
  pollMs?: number;
  /** How long the coordinator may be unreachable before giving up, in ms. @default 60000 */
  patienceMs?: number;
  /**
   * Milliseconds to wait after every local step: emulates a slower device
   * (for experiments and tests). @default 0
   */
  stepDelayMs?: number;
  /** Called on each event. */
  onEvent?: (event: ClientEvent) => void;
  /** Called with each round's plain delta before it is sent (a client's own record, e.g. for audits). */
  onDelta?: (round: number, delta: Map<string, Float32Tensor>) => void;
  /**
   * Updates of at least this many bytes go as resumable uploads (tus), where
   * the coordinator takes them (`resumableUploads` in its task).
   * @default 16 MiB
   */
  resumableAboveBytes?: number;
}

/**
 * Most labeled rows a client measures the global model on before training
 * (federated evaluation): a sample, evenly spaced, of a large client's rows.
 */
export const FEDERATED_EVALUATION_ROWS = 1000;

/** The default of {@linkcode RunClientOptions.resumableAboveBytes}. */
export const RESUMABLE_ABOVE_BYTES = 16 * 1024 * 1024;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A sequence task's vocabulary, checked as received (its hash that of its
 * contents) and against the one the client's rows were tokenized with.
 */
async function checkTaskVocabulary(task: TaskResponse, expected?: string): Promise<void> {
  const vocabulary = task.input.sequence?.vocabulary;
  if (!vocabulary) return;
  try {
    await checkVocabulary(vocabulary, expected);
  } catch (error) {
    throw new RangeError(`Cannot join task "${task.id}": ${(error as Error).message}`);
  }
}

/** The dataset with rows in the task's shape (same values, e.g. [784] as [28, 28, 1]). */
function fitDataset(dataset: Dataset, task: TaskResponse): Dataset {
  if (featureSize(dataset) !== featureSize({ featureShape: task.input.shape })) {
    throw new RangeError(
      `Cannot join task "${task.id}": rows have shape [${dataset.featureShape}], the task expects [${task.input.shape}]`,
    );
  }
  const classes = classCount(task.input);
  if (dataset.numClasses > classes) {
    throw new RangeError(`Cannot join task "${task.id}": labels exceed its ${classes} classes`);
  }
  return reshapeRows(dataset, task.input.shape);
}

/**
 * Runs one client until the coordinator's run is finished. Network errors are
 * retried with backoff for up to `patienceMs`; a stale round is skipped.
 *
 * @example
 * ```ts ignore
 * import { runClient } from "./run_client.ts";
 * await runClient({ coordinator: "http://127.0.0.1:8787", dataset });
 * ```
 */
export async function runClient(options: RunClientOptions): Promise<void> {
  const { pollMs = 200, patienceMs = 60_000, onEvent } = options;
  let clientId = options.clientId ?? `client-${crypto.randomUUID().slice(0, 8)}`;
  let token = options.token;
  if (options.enrolmentToken && !token) {
    ({ clientId, token } = await CoordinatorClient.enrol(options.coordinator, {
      enrolmentToken: options.enrolmentToken,
      clientId,
      fetch: options.fetch,
    }));
  }
  const api = new CoordinatorClient(options.coordinator, {
    taskId: options.taskId,
    token,
    fetch: options.fetch,
  });
  const counts = countRows(options.dataset);
  let failingSince: number | null = null;
  let delayMs = pollMs;
  let model: tf.LayersModel | null = null;
  let trainer: LocalTrainer | null = null;
  let evaluator: Evaluator | null = null;
  let lastRound = 0;
  try {
    const task = await retrying(() => api.task());
    await checkTaskVocabulary(task, options.vocabularyHash);
    const dataset = fitDataset(options.dataset, task);
    model = await buildModel(task.model.topology);
    trainer = new LocalTrainer(model, dataset, {
      seed: options.seed,
      clientId,
      maskedTokens: maskedTokensOf(task.input),
    });
    // A self-supervised task has no labels of the client's to measure on.
    evaluator = counts.numLabeled > 0 && !maskedTokensOf(task.input)
      ? new Evaluator(dataset, { maxRows: FEDERATED_EVALUATION_ROWS })
      : null;
    onEvent?.({ kind: "joined", task });
    // Lossy codecs: what was not sent is added to the next update.
    const feedback = task.codec.kind === "f32" ? undefined : new ErrorFeedback();
    for (;;) {
      // After the last round a coordinator that went away has simply finished.
      const lastDone = lastRound >= task.rounds.total;
      const status = await retrying(() => api.status(), lastDone ? 2 * pollMs : patienceMs).catch(
        (error) => {
          if (lastDone) return null;
          throw error;
        },
      );
      if (!status || status.phase === "finished" || status.phase === "stopped") break;
      // Sync: one update per round. Async: train again at once on whatever
      // version is current.
      const waitForRound = task.rounds.mode === "sync" && status.round <= lastRound;
      if (status.phase !== "training" || waitForRound) {
        await sleep(pollMs);
        continue;
      }
      let global;
      try {
        global = await retrying(() => api.model({ clientId }));
      } catch (error) {
        // Not drawn for this round: wait for the next one.
        if (!(error instanceof CoordinatorError) || error.code !== "not_selected") throw error;
        onEvent?.({ kind: "rejected", round: status.round, status: 409, message: error.message });
        lastRound = status.round;
        continue;
      }
      writeWeights(model, global.weights);
      // Federated evaluation: the global model on this client's labeled rows.
      const evaluation = await evaluationFields(task.training, evaluator, model);
      let trained;
      try {
        trained = await trainer.train(task.training, {
          round: global.round,
          onStep: (progress) => onEvent?.({ kind: "step", round: global.round, progress }),
          stepDelayMs: options.stepDelayMs,
        });
      } catch (error) {
        // Tell the coordinator, so the round lists this client's failure and
        // its reason instead of waiting for it; then stop as before.
        const reason = error instanceof Error ? error.message : String(error);
        await api.reportFailure({ clientId, round: global.round, reason }).catch(() => {});
        throw error;
      }
      const delta = subtractWeights(
        await readWeightsAsync(model, { trainableOnly: true }),
        global.weights,
      );
      lastRound = global.round;
      options.onDelta?.(global.round, delta);
      if (task.secureAggregation) {
        const result = await secureSubmit({
          api: api.secure,
          clientId,
          task,
          round: global.round,
          input: secureInput(task, delta, counts),
          retrying,
          pollMs,
          about: {
            backend: options.backend ?? "wasm",
            ...(options.device ? { device: options.device } : {}),
            runtime: options.runtime ?? describeRuntime(),
            vocabulary: task.input.sequence?.vocabulary.hash,
          },
        });
        onEvent?.(
          result.kind === "done"
            ? {
              kind: "sent",
              round: global.round,
              result: trained,
              received: result.survivors,
              targetClients: task.rounds.targetClients,
              secure: true,
            }
            : { kind: "rejected", round: global.round, status: 409, message: result.reason },
        );
        continue;
      }
      // Encoded once (error feedback moves on), resent as the same bytes.
      const body = encodeUpdateBody(delta, {
        round: global.round,
        baseVersion: global.version,
        ...counts,
        clientId,
        backend: options.backend ?? "wasm",
        ...(options.device ? { device: options.device } : {}),
        runtime: options.runtime ?? describeRuntime(),
        vocabulary: task.input.sequence?.vocabulary.hash,
        loss: trained.loss,
        ce: trained.ce,
        kl: trained.kl,
        ...evaluation,
      }, { codec: task.codec, feedback });
      try {
        const resumable = task.resumableUploads === true &&
          body.byteLength >= (options.resumableAboveBytes ?? RESUMABLE_ABOVE_BYTES);
        const accepted = await retrying(() =>
          resumable ? api.postResumable(body) : api.postUpdate(body)
        );
        onEvent?.({
          kind: "sent",
          round: global.round,
          result: trained,
          received: accepted.received,
          targetClients: accepted.targetClients,
        });
      } catch (error) {
        if (!(error instanceof CoordinatorError) || error.status !== 409) throw error;
        onEvent?.({
          kind: "rejected",
          round: global.round,
          status: error.status,
          message: error.message,
        });
      }
    }
    onEvent?.({ kind: "finished" });
  } finally {
    trainer?.dispose();
    evaluator?.dispose();
    model?.dispose();
  }

  async function retrying<T>(call: () => Promise<T>, patience = patienceMs): Promise<T> {
    for (;;) {
      try {
        const value = await call();
        failingSince = null;
        delayMs = pollMs;
        return value;
      } catch (error) {
        if (!isRetriable(error)) throw error;
        failingSince ??= Date.now();
        if (Date.now() - failingSince > patience) {
          throw new Error(
            `Cannot reach coordinator at "${options.coordinator}" for ${
              Math.round(patience / 1000)
            } s: ${error instanceof Error ? error.message : error}`,
          );
        }
        onEvent?.({
          kind: "retry",
          message: error instanceof Error ? error.message : String(error),
          delayMs,
        });
        const asked = error instanceof CoordinatorError && error.retryAfter !== null
          ? error.retryAfter * 1000
          : 0;
        // Jitter, so that clients refused together do not come back together.
        await sleep(Math.max(delayMs, asked) * (0.75 + 0.5 * Math.random()));
        delayMs = Math.min(delayMs * 2, 5000);
      }
    }
  }
}

/**
 * Federated evaluation: the update fields that report `model` (the global the
 * client received) on the evaluator's labeled rows; none when the task does
 * not ask for it or the client has no labeled row.
 *
 * @example
 * ```ts ignore
 * await api.sendUpdate(delta, { ...info, ...(await evaluationFields(task.training, evaluator, model)) });
 * ```
 */
export async function evaluationFields(
  training: { evaluate: boolean },
  evaluator: Evaluator | null,
  model: tf.LayersModel,
): Promise<Pick<UpdateInfo, "evalAccuracy" | "evalLoss" | "evalExamples">> {
  if (!training.evaluate || !evaluator) return {};
  const { accuracy, loss } = await evaluator.evaluateAsync(model);
  return { evalAccuracy: accuracy, evalLoss: loss, evalExamples: evaluator.rows };
}

/**
 * `local - global` for each tensor of `local` (the delta an update carries).
 *
 * @example
 * ```ts
 * import { subtractWeights } from "./run_client.ts";
 * import assert from "node:assert/strict";
 * const t = (v: number) => new Map([["w", { shape: [1], data: Float32Array.of(v) }]]);
 * assert.deepEqual([...subtractWeights(t(3), t(1)).get("w")!.data], [2]);
 * ```
 */
export function subtractWeights(
  local: Map<string, Float32Tensor>,
  global: Map<string, Float32Tensor>,
): Map<string, Float32Tensor> {
  const delta = new Map<string, Float32Tensor>();
  for (const [name, tensor] of local) {
    const base = global.get(name);
    if (!base) {
      throw new RangeError(`Cannot compute delta: the global model has no weight "${name}"`);
    }
    const data = new Float32Array(tensor.data.length);
    for (let i = 0; i < data.length; i++) data[i] = tensor.data[i]! - base.data[i]!;
    delta.set(name, { shape: tensor.shape, data });
  }
  return delta;
}
