/**
 * Starting a coordinator: tasks, rounds and the HTTP server together.
 * @module
 */
import { startBackend } from "../client/backend.ts";
import type { RoundMetrics } from "../shared/schemas.ts";
import { createApp } from "./app.ts";
import type { Federation } from "./federation.ts";
import type { LoadedTask } from "./load_task.ts";
import { TaskRegistry } from "./registry.ts";

/** Options of {@linkcode startCoordinator}. */
export interface StartCoordinatorOptions {
  /** The tasks to serve; the first is the default task. More can be added over HTTP. */
  tasks: LoadedTask[];
  /** Folder of checkpoints, one sub-folder per task. @default none */
  runDir?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** Interface to listen on. @default "127.0.0.1" */
  hostname?: string;
  /** Called with each round's metrics of each task. */
  onRound?: (taskId: string, metrics: RoundMetrics) => void;
}

/** A running coordinator. */
export interface Coordinator {
  /** Base URL, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** The tasks served. */
  registry: TaskRegistry;
  /** The default task's rounds. */
  federation: Federation;
  /** Stops the server and frees the tasks. */
  shutdown(): Promise<void>;
}

/**
 * Builds each task's model on the wasm backend, opens their first rounds and
 * serves the v1 API on `hostname:port`.
 *
 * @example
 * ```ts
 * import { startCoordinator } from "./serve.ts";
 * import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const coordinator = await startCoordinator({ tasks: [{ config: mnistMlpTask() }] });
 * assert.equal((await fetch(`${coordinator.url}/v1/health`)).status, 200);
 * await coordinator.shutdown();
 * ```
 */
export async function startCoordinator(options: StartCoordinatorOptions): Promise<Coordinator> {
  await startBackend("wasm");
  const registry = new TaskRegistry({ runDir: options.runDir, onRound: options.onRound });
  try {
    for (const task of options.tasks) await registry.add(task);
  } catch (error) {
    await registry.close();
    throw error;
  }
  const app = createApp(registry);
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
    registry,
    federation: registry.get(),
    async shutdown() {
      await server.shutdown();
      await registry.close();
    },
  };
}
