/**
 * A client in a Web Worker, so that several clients train in parallel on one
 * machine (the demo and tests use it). Post a {@linkcode WorkerStart} message;
 * it answers with {@linkcode WorkerMessage}s.
 * @module
 */
/// <reference lib="deno.worker" />
import type { Dataset } from "../shared/data/dataset.ts";
import { type BackendChoice, startBackend } from "./training/backend.ts";
import { type ClientEvent, runClient } from "./run_client.ts";
import { fetchTrusting } from "./link/trust.ts";

/** The message that starts the worker's client. */
export interface WorkerStart {
  coordinator: string;
  taskId?: string;
  dataset: Dataset;
  clientId: string;
  seed: number;
  /** The client's bearer token, or an enrolment token to enrol with first. */
  token?: string;
  enrolmentToken?: string;
  /** @default "wasm" */
  backend?: BackendChoice;
  /** Milliseconds to wait after each local step (emulates a slower device). */
  stepDelayMs?: number;
  /** A CA certificate (PEM) to trust for the coordinator's HTTPS certificate. */
  caCert?: string;
}

/** What the worker posts back: client events, its end, or its error. */
export type WorkerMessage =
  | { kind: "event"; event: Exclude<ClientEvent, { kind: "step" | "joined" }> }
  | { kind: "done" }
  | { kind: "error"; message: string };

self.onmessage = async (message: MessageEvent<WorkerStart>) => {
  const start = message.data;
  try {
    const backend = await startBackend(start.backend ?? "wasm");
    await runClient({
      coordinator: start.coordinator,
      taskId: start.taskId,
      dataset: start.dataset,
      clientId: start.clientId,
      token: start.token,
      enrolmentToken: start.enrolmentToken,
      fetch: start.caCert ? fetchTrusting(start.caCert) : undefined,
      seed: start.seed,
      backend: backend.name,
      device: backend.device,
      stepDelayMs: start.stepDelayMs,
      onEvent: (event) => {
        if (event.kind !== "step" && event.kind !== "joined") {
          self.postMessage({ kind: "event", event } satisfies WorkerMessage);
        }
      },
    });
    self.postMessage({ kind: "done" } satisfies WorkerMessage);
  } catch (error) {
    self.postMessage(
      {
        kind: "error",
        message: error instanceof Error ? error.message : String(error),
      } satisfies WorkerMessage,
    );
  }
  self.close();
};
