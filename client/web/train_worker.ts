/**
 * The client page's training worker: starts a tfjs backend, reads the rows,
 * and runs the same client loop and R-Drop trainer as the Deno client, off the
 * page's main thread. Only weight deltas leave it.
 * @module
 */
/// <reference lib="deno.worker" />
import { CoordinatorClient, CoordinatorError, isRetriable } from "../link/coordinator_client.ts";
import { countRows, type Dataset } from "../../shared/data/dataset.ts";
import { decodeDemoShard } from "../../shared/data/demo_shard.ts";
import { runClient } from "../run_client.ts";
import { startWebBackend } from "./backend.ts";
import type { DataSource, TrainMessage, TrainStart } from "./messages.ts";
import { readPastedText, readPickedFiles } from "./read_files.ts";

const post = (message: TrainMessage) => self.postMessage(message);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const reason = (error: unknown) => error instanceof Error ? error.message : String(error);

/** The demo shard is not part of the v1 API, so not of CoordinatorClient. */
async function fetchOk(url: string, token: string): Promise<Response> {
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  if (response.ok) return response;
  let message = `${response.status}`;
  try {
    message = (await response.json()).error?.message ?? message;
  } catch { /* not JSON */ }
  throw new CoordinatorError(response.status, "http", `${url}: ${message}`);
}

async function readRows(start: TrainStart, data: DataSource): Promise<Dataset> {
  const base = start.coordinator.replace(/\/+$/, "");
  if (data.kind === "demo") {
    const query = new URLSearchParams({ shard: data.shard });
    if (start.taskId) query.set("task", start.taskId);
    const response = await fetchOk(`${base}/client/demo-shard?${query}`, start.token);
    return decodeDemoShard(new Uint8Array(await response.arrayBuffer()));
  }
  const api = new CoordinatorClient(base, { taskId: start.taskId, token: start.token });
  const input = (await api.task()).input;
  if (data.kind === "text") return readPastedText(data.text, input);
  return await readPickedFiles(data.files, input);
}

self.onmessage = async (message: MessageEvent<TrainStart>) => {
  const start = message.data;
  try {
    const backend = await startWebBackend({ force: start.backend, wasmPath: start.wasmPath });
    post({ kind: "backend", ...backend });
    let dataset: Dataset | null = null;
    let delayMs = 1000;
    let lastStepAt = 0;
    for (;;) {
      try {
        dataset ??= await readRows(start, start.data);
        post({ kind: "data", ...countRows(dataset) });
        await runClient({
          coordinator: start.coordinator,
          taskId: start.taskId,
          dataset,
          clientId: start.clientId,
          token: start.token,
          backend: backend.name,
          device: backend.device,
          patienceMs: 20_000,
          onEvent(event) {
            delayMs = 1000;
            switch (event.kind) {
              case "joined":
                post({
                  kind: "joined",
                  taskId: event.task.id,
                  totalRounds: event.task.rounds.total,
                  localSteps: event.task.training.localSteps,
                });
                break;
              case "step": {
                const now = performance.now();
                const { step, totalSteps, loss, ce, kl } = event.progress;
                post({
                  kind: "step",
                  round: event.round,
                  step,
                  totalSteps,
                  loss,
                  ce,
                  kl,
                  msPerStep: step === 1 || !lastStepAt ? 0 : now - lastStepAt,
                });
                lastStepAt = now;
                break;
              }
              case "sent":
                post({
                  kind: "sent",
                  round: event.round,
                  secure: event.secure,
                  received: event.received,
                  targetClients: event.targetClients,
                  loss: event.result.loss,
                  ce: event.result.ce,
                  kl: event.result.kl,
                  seconds: event.result.seconds,
                  fusedKernels: event.result.fusedKernels,
                });
                break;
              case "rejected":
              case "retry":
              case "finished":
                post(event);
            }
          },
        });
        post({ kind: "finished" });
        return;
      } catch (error) {
        // runClient gives up after its patience with "Cannot reach coordinator …".
        if (!isRetriable(error) && !/^Cannot reach coordinator/.test(reason(error))) throw error;
        // The coordinator is away: keep the rows, wait, and join again.
        post({
          kind: "retry",
          message: error instanceof CoordinatorError
            ? `coordinator busy (${error.status}): ${reason(error)}`
            : reason(error),
          delayMs,
        });
        await sleep(delayMs);
        delayMs = Math.min(delayMs * 2, 30_000);
      }
    }
  } catch (error) {
    post({
      kind: "error",
      message: reason(error),
      unauthorized: error instanceof CoordinatorError && error.status === 401,
    });
  }
};
