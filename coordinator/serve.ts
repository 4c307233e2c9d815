/**
 * Starting a coordinator: model, federation and HTTP server together.
 * @module
 */
import { startBackend } from "../client/backend.ts";
import type { Dataset } from "../shared/dataset.ts";
import { buildModel } from "../shared/model.ts";
import type { RoundMetrics, TaskConfig } from "../shared/schemas.ts";
import { createApp } from "./app.ts";
import { Federation } from "./federation.ts";

/** Options of {@linkcode startCoordinator}. */
export interface StartCoordinatorOptions {
  /** The task. */
  task: TaskConfig;
  /** Labeled rows to evaluate the global model on. @default none */
  holdout?: Dataset;
  /** Folder of checkpoints. @default none */
  runDir?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** Interface to listen on. @default "127.0.0.1" */
  hostname?: string;
  /** Called with each round's metrics. */
  onRound?: (metrics: RoundMetrics) => void;
}

/** A running coordinator. */
export interface Coordinator {
  /** Base URL, e.g. `http://127.0.0.1:8000`. */
  url: string;
  /** The rounds' state. */
  federation: Federation;
  /** Stops the server and the rounds. */
  shutdown(): Promise<void>;
}

/**
 * Builds the task's model on the wasm backend, opens round 1 and serves the
 * v1 API on `hostname:port`.
 *
 * @example
 * ```ts
 * import { startCoordinator } from "./serve.ts";
 * import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const coordinator = await startCoordinator({ task: mnistMlpTask() });
 * assert.equal((await fetch(`${coordinator.url}/v1/health`)).status, 200);
 * await coordinator.shutdown();
 * ```
 */
export async function startCoordinator(options: StartCoordinatorOptions): Promise<Coordinator> {
  await startBackend("wasm");
  const model = await buildModel(options.task.model.topology, { seed: options.task.model.seed });
  const federation = await Federation.create({
    task: options.task,
    model,
    holdout: options.holdout,
    runDir: options.runDir,
    onRound: options.onRound,
  });
  const app = createApp(federation);
  const hostname = options.hostname ?? "127.0.0.1";
  const ready = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    port: options.port ?? 0,
    hostname,
    onListen: (addr) => ready.resolve(addr as Deno.NetAddr),
  }, app.fetch);
  const addr = await ready.promise;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    url: `http://${host}:${addr.port}`,
    federation,
    async shutdown() {
      await server.shutdown();
      await federation.settled();
      federation.close();
      model.dispose();
    },
  };
}
