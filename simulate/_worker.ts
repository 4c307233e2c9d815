// A worker that hosts several simulated clients. Each trains, when told, on
// the current global model it fetches over HTTP and posts its delta, exactly
// as a client process would; only the choice of who trains is the driver's.
/// <reference lib="deno.worker" />
import { maskedTokensOf } from "../shared/tokenizer/masking.ts";
import type * as tf from "@tensorflow/tfjs";
import { startBackend } from "../client/training/backend.ts";
import {
  CoordinatorClient,
  CoordinatorError,
  encodeUpdateBody,
  isRetriable,
} from "../client/link/coordinator_client.ts";
import { fetchTrusting } from "../client/link/trust.ts";
import { ErrorFeedback } from "../shared/wire/codec.ts";
import {
  evaluationFields,
  FEDERATED_EVALUATION_ROWS,
  subtractWeights,
} from "../client/run_client.ts";
import { LocalTrainer } from "../client/training/trainer.ts";
import { Evaluator } from "../shared/model/evaluate.ts";
import { countRows, type Dataset, reshapeRows } from "../shared/data/dataset.ts";
import { buildModel, readWeights, writeWeights } from "../shared/model/model.ts";
import type { TaskResponse } from "../shared/schemas/mod.ts";
import { secureInput, secureSubmit } from "../client/link/secure_submit.ts";

/** Messages the driver sends. */
export type WorkerRequest =
  | {
    kind: "init";
    coordinator: string;
    /** A CA certificate (PEM) to trust for the coordinator's HTTPS certificate. */
    caCert?: string;
    clients: { id: string; dataset: Dataset; seed: number; attackScale?: number }[];
  }
  | { kind: "train"; round: number; ids: string[] };

/** Messages the worker answers. */
export type WorkerReply =
  | { kind: "ready" }
  | { kind: "trained"; round: number; ids: string[] }
  | { kind: "error"; message: string };

let api: CoordinatorClient;
let task: TaskResponse;
let model: tf.LayersModel;
const clients = new Map<
  string,
  {
    trainer: LocalTrainer;
    evaluator: Evaluator | null;
    /** What lossy codecs left out of this client's earlier updates. */
    feedback: ErrorFeedback;
    dataset: Dataset;
    attackScale: number | null;
  }
>();

async function init(request: Extract<WorkerRequest, { kind: "init" }>): Promise<void> {
  await startBackend("wasm");
  api = new CoordinatorClient(request.coordinator, {
    fetch: request.caCert ? fetchTrusting(request.caCert) : undefined,
  });
  task = await api.task();
  model = await buildModel(task.model.topology);
  for (const client of request.clients) {
    const dataset = reshapeRows(client.dataset, task.input.shape);
    clients.set(client.id, {
      trainer: new LocalTrainer(model, dataset, {
        seed: client.seed,
        maskedTokens: maskedTokensOf(task.input),
      }),
      // A self-supervised task has no labels of the clients' to measure on.
      evaluator: countRows(dataset).numLabeled > 0 && !maskedTokensOf(task.input)
        ? new Evaluator(dataset, { maxRows: FEDERATED_EVALUATION_ROWS })
        : null,
      feedback: new ErrorFeedback(),
      dataset,
      attackScale: client.attackScale ?? null,
    });
  }
}

/**
 * `fn` again after a connection error (a keep-alive connection the
 * coordinator closed as it was reused), up to 4 tries; a resent update is
 * answered as the first time.
 */
async function withRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= 4 || !isRetriable(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
    }
  }
}

async function train(request: Extract<WorkerRequest, { kind: "train" }>): Promise<void> {
  // Secure aggregation: each client's protocol runs while the next ones train.
  const secure: Promise<unknown>[] = [];
  for (const id of request.ids) {
    const client = clients.get(id);
    if (!client) throw new Error(`Unknown client "${id}"`);
    let global;
    try {
      global = await withRetry(() => api.model({ clientId: id }));
    } catch (error) {
      // Differential privacy: the coordinator did not draw this client for the round.
      if (error instanceof CoordinatorError && error.code === "not_selected") continue;
      throw error;
    }
    // Under DP a round closes once its drawn clients answered: a client not
    // drawn may find the next round open already, and waits to be asked then.
    if (global.round !== request.round && task.privacy) continue;
    if (global.round !== request.round) {
      throw new Error(
        `Client "${id}" expected round ${request.round}, the coordinator is at ${global.round}`,
      );
    }
    writeWeights(model, global.weights);
    const evaluation = await evaluationFields(task.training, client.evaluator, model);
    const result = await client.trainer.train(task.training, { round: global.round });
    const delta = subtractWeights(readWeights(model, { trainableOnly: true }), global.weights);
    // An attacker (a byzantine client of the robustness experiments) sends
    // its honest delta flipped and scaled.
    if (client.attackScale !== null) {
      for (const tensor of delta.values()) {
        for (let i = 0; i < tensor.data.length; i++) tensor.data[i]! *= -client.attackScale;
      }
    }
    if (task.secureAggregation) {
      const counts = countRows(client.dataset);
      secure.push(secureSubmit({
        api: api.secure,
        clientId: id,
        task,
        round: global.round,
        input: secureInput(task, delta, counts),
        about: { backend: "wasm", vocabulary: task.input.sequence?.vocabulary.hash },
      }));
      continue;
    }
    // Encoded once (error feedback moves on once), resent as the same bytes.
    const body = encodeUpdateBody(delta, {
      round: global.round,
      baseVersion: global.version,
      ...countRows(client.dataset),
      clientId: id,
      backend: "wasm",
      vocabulary: task.input.sequence?.vocabulary.hash,
      loss: result.loss,
      ce: result.ce,
      kl: result.kl,
      ...evaluation,
    }, { codec: task.codec, feedback: client.feedback });
    await withRetry(() => api.postUpdate(body));
  }
  await Promise.all(secure);
}

self.onmessage = async (message: MessageEvent<WorkerRequest>) => {
  try {
    if (message.data.kind === "init") {
      await init(message.data);
      self.postMessage({ kind: "ready" } satisfies WorkerReply);
    } else {
      await train(message.data);
      self.postMessage(
        { kind: "trained", round: message.data.round, ids: message.data.ids } satisfies WorkerReply,
      );
    }
  } catch (error) {
    self.postMessage(
      {
        kind: "error",
        message: error instanceof Error ? error.message : String(error),
      } satisfies WorkerReply,
    );
  }
};
