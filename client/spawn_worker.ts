/**
 * Starting clients in Web Workers and waiting for them.
 * @module
 */
import type { WorkerMessage, WorkerStart } from "./worker.ts";

/** Options of {@linkcode spawnClientWorker}. */
export interface SpawnClientWorkerOptions {
  /** Called with each message of the worker. */
  onMessage?: (message: WorkerMessage) => void;
}

/**
 * Starts one client in a Web Worker; resolves when its run finishes and
 * rejects with the client's error.
 *
 * @example
 * ```ts ignore
 * import { spawnClientWorker } from "./spawn_worker.ts";
 * await spawnClientWorker({ coordinator, dataset, clientId: "c1", seed: 1 });
 * ```
 */
export function spawnClientWorker(start: WorkerStart, options: SpawnClientWorkerOptions = {}): {
  done: Promise<void>;
  terminate: () => void;
} {
  const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  const done = new Promise<void>((resolve, reject) => {
    worker.onmessage = (message: MessageEvent<WorkerMessage>) => {
      options.onMessage?.(message.data);
      if (message.data.kind === "done") resolve();
      if (message.data.kind === "error") {
        reject(new Error(`Client "${start.clientId}" failed: ${message.data.message}`));
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`Client "${start.clientId}" crashed: ${event.message}`));
    };
  });
  worker.postMessage(start);
  return { done: done.finally(() => worker.terminate()), terminate: () => worker.terminate() };
}
