/**
 * Edge mode: a coordinator that serves the cloud's task and global model to
 * its own clients, runs its own rounds over their updates, and sends the
 * cloud one combined update a round (their FedAvg mean, with the summed
 * example counts, so the cloud weights it as the sum of the devices behind
 * it), as a client of the cloud.
 * @module
 */
import {
  CoordinatorClient,
  CoordinatorError,
  encodeUpdateBody,
  isRetriable,
} from "../../client/link/coordinator_client.ts";
import { dirname } from "node:path";
import { describeRuntime } from "../../shared/runtime.ts";
import {
  type SecureAggregationConfig,
  type TaskConfig,
  TaskConfigSchema,
  type TaskResponse,
} from "../../shared/schemas/mod.ts";
import type { Relay, RelayedUpdate } from "../federation/federation.ts";
import type { LoadedTask } from "../cli/load_task.ts";

/** Options of {@linkcode connectUpstream}. */
export interface UpstreamOptions {
  /** The cloud coordinator's base URL. */
  url: string;
  /**
   * This edge's client token at the cloud, or an enrolment token to enrol
   * with (as `edgeId`), the token got then kept in `tokenFile` so that a
   * restarted edge is the same client.
   */
  token: string | { enrolmentToken: string; edgeId?: string; tokenFile: string };
  /** The edge's own rounds: updates to wait for, fewest to close with, deadline. */
  rounds?: { targetClients?: number; minClients?: number; timeoutSeconds?: number };
  /** How often to ask the cloud for news, in ms. @default 500 */
  pollMs?: number;
  /** Called with what the edge does upstream (sent, waiting, retrying). */
  onEvent?: (message: string) => void;
  /** The `fetch` to reach the cloud with, e.g. one trusting its CA (`fetchTrusting`). @default fetch */
  fetch?: typeof fetch;
  /**
   * Secure aggregation with this edge's devices: the edge learns only their
   * sum and forwards only that mean. @default none (the cloud's setting, which
   * an edge cannot follow)
   */
  secureAggregation?: SecureAggregationConfig;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The task an edge serves: the cloud's, with FedAvg at the edge and the edge's own round sizes. */
function edgeTask(
  task: TaskResponse,
  rounds: UpstreamOptions["rounds"] = {},
  secureAggregation?: SecureAggregationConfig,
): TaskConfig {
  if (task.privacy) {
    throw new Error(
      `Cannot follow task "${task.id}": it is differentially private, and an edge's combined update is many devices' (client-level privacy would hold for the edge, not each device)`,
    );
  }
  if (task.secureAggregation) {
    throw new Error(
      `Cannot follow task "${task.id}": the cloud runs secure aggregation over its clients, and an edge forwards its devices' plain mean; run the cloud without it and give the edges --secure-aggregation`,
    );
  }
  if (task.rounds.mode !== "sync") {
    throw new Error(
      `Cannot follow task "${task.id}": edges follow sync rounds, the cloud runs ${task.rounds.mode}`,
    );
  }
  const config: Record<string, unknown> = {};
  for (const key of Object.keys(TaskConfigSchema.shape)) {
    config[key] = (task as Record<string, unknown>)[key];
  }
  return TaskConfigSchema.parse({
    ...config,
    // The edge forwards the plain weighted mean; the cloud runs the strategy.
    aggregation: { strategy: "fedavg", unlabeledWeight: task.aggregation.unlabeledWeight },
    rounds: {
      ...task.rounds,
      fraction: 1,
      minAvailable: 1,
      ...Object.fromEntries(Object.entries(rounds).filter(([, v]) => v !== undefined)),
    },
    // The cloud fine-tunes on its labels, if it holds any; the edge does not.
    serverTraining: undefined,
    secureAggregation,
  });
}

/** The token kept in `tokenFile`, or one got by enrolling at the cloud (and then kept). */
async function enrolledToken(
  url: string,
  options: { enrolmentToken: string; edgeId?: string; tokenFile: string; fetch?: typeof fetch },
): Promise<string> {
  try {
    const saved = JSON.parse(await Deno.readTextFile(options.tokenFile));
    if (typeof saved?.token === "string") return saved.token;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (let delay = 500;; delay = Math.min(delay * 2, 10_000)) {
    try {
      const enrolled = await CoordinatorClient.enrol(url, {
        enrolmentToken: options.enrolmentToken,
        clientId: options.edgeId,
        fetch: options.fetch,
      });
      await Deno.mkdir(dirname(options.tokenFile), { recursive: true });
      await Deno.writeTextFile(options.tokenFile, JSON.stringify(enrolled), { mode: 0o600 });
      return enrolled.token;
    } catch (error) {
      if (!isRetriable(error)) throw error;
      await sleep(delay);
    }
  }
}

/**
 * Follows the cloud at `options.url`: its task (as {@linkcode edgeTask}
 * adapts it), its current global, round and version, and a relay that
 * forwards each closed round. Waits (retrying) until the cloud answers.
 *
 * @example
 * ```ts ignore
 * const task = await connectUpstream({ url: "http://cloud:8787", token: "tok_..." });
 * await startCoordinator({ tasks: [task], runDir: "runs/edge-1" });
 * ```
 */
export async function connectUpstream(options: UpstreamOptions): Promise<LoadedTask> {
  const { pollMs = 500, onEvent } = options;
  const token = typeof options.token === "string"
    ? options.token
    : await enrolledToken(options.url, { ...options.token, fetch: options.fetch });
  const api = new CoordinatorClient(options.url, { token, fetch: options.fetch });
  const patiently = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    let delay = pollMs;
    for (;;) {
      try {
        return await call();
      } catch (error) {
        if (!isRetriable(error)) throw error;
        onEvent?.(
          `cloud unreachable while ${what} (${
            error instanceof Error ? error.message : error
          }); retrying in ${(delay / 1000).toFixed(1)} s`,
        );
        await sleep(delay);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  };
  const task = await patiently("reading the task", () => api.task());
  const config = edgeTask(task, options.rounds, options.secureAggregation);
  const global = await patiently("reading the model", () => api.model());

  const relay: Relay = {
    async forward(update: RelayedUpdate) {
      const body = encodeUpdateBody(update.delta, {
        round: update.round,
        baseVersion: update.baseVersion,
        numLabeled: update.numLabeled,
        numUnlabeled: update.numUnlabeled,
        backend: "edge",
        runtime: describeRuntime(),
        devices: update.devices,
        // The devices' updates were checked against the same vocabulary.
        vocabulary: task.input.sequence?.vocabulary.hash,
      }, { codec: task.codec });
      // The same bytes until accepted: the cloud answers a resend as the first time.
      try {
        const accepted = await patiently(
          `sending round ${update.round}`,
          () => api.postUpdate(body),
        );
        onEvent?.(
          `round ${update.round}: sent ${update.devices} devices' update to the cloud (${accepted.received}/${accepted.targetClients})`,
        );
      } catch (error) {
        // The cloud moved on without it (or refused it): re-base on what it has now.
        if (!(error instanceof CoordinatorError) || error.status !== 409) throw error;
        onEvent?.(`round ${update.round}: the cloud did not take it (${error.message}); re-basing`);
      }
      for (;;) {
        const status = await patiently("waiting for the next version", () => api.status());
        const finished = status.phase === "finished" || status.phase === "stopped";
        if (status.version > update.baseVersion || finished) {
          const next = await patiently("reading the model", () => api.model());
          return {
            round: next.round,
            version: next.version,
            global: next.weights,
            finished,
          };
        }
        await sleep(pollMs);
      }
    },
  };
  return {
    config,
    weights: global.weights,
    weightsComplete: true,
    relay,
    start: { round: global.round, version: global.version },
  };
}
