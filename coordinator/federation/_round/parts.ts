/**
 * The federation's pure helpers: a client's record and its stored form, what
 * a round's metrics count of its updates, the strategy checks, and applying a
 * step to the global. No state of their own.
 * @module
 */
import type { WeightSpec } from "../../../shared/model/model.ts";
import type { Float32Tensor } from "../../../shared/wire/safetensors.ts";
import type { TaskConfig } from "../../../shared/schemas/mod.ts";
import type { StoredClient } from "../../storage/storage.ts";
import type { Strategy } from "../../aggregate/strategy.ts";
import type { ValidUpdate } from "../../ingest/validate_update.ts";

/** A client as the federation keeps it. */
export interface ClientRecord {
  id: string;
  lastSeen: Date;
  updatesAccepted: number;
  backend: string | null;
  device: string | null;
  runtime: string | null;
  /** Not stored: counted since this process started. */
  updatesRejected: number;
  lastRejection: string | null;
  numLabeled: number | null;
  numUnlabeled: number | null;
  devices: number | null;
}

/** What a round's metrics count of the updates it used. */
export interface RoundSummary {
  clients: number;
  numLabeled: number;
  numUnlabeled: number;
  bytesReceived: number;
  /** The clients' federated evaluations. */
  evaluations: { accuracy: number; loss: number; examples: number }[];
}

export function summarize(updates: ValidUpdate[]): RoundSummary {
  return {
    clients: updates.length,
    numLabeled: updates.reduce((n, u) => n + u.metadata.numLabeled, 0),
    numUnlabeled: updates.reduce((n, u) => n + u.metadata.numUnlabeled, 0),
    bytesReceived: updates.reduce((n, u) => n + u.bytes, 0),
    evaluations: updates.flatMap(({ metadata: m }) =>
      m.evalExamples === undefined
        ? []
        : [{ accuracy: m.evalAccuracy!, loss: m.evalLoss!, examples: m.evalExamples }]
    ),
  };
}

export function storedClient(client: ClientRecord): StoredClient {
  return {
    id: client.id,
    lastSeen: client.lastSeen.toISOString(),
    updatesAccepted: client.updatesAccepted,
    backend: client.backend,
    device: client.device,
    runtime: client.runtime,
    numLabeled: client.numLabeled,
    numUnlabeled: client.numUnlabeled,
    devices: client.devices,
  };
}

/** Refuses settings a strategy cannot work with, naming them. */
export function checkStrategy(task: TaskConfig, strategy: Strategy): void {
  const aggregation = task.aggregation;
  if (task.rounds.mode === "async" && strategy.needsAllUpdates) {
    throw new TypeError(
      `Cannot use strategy "${aggregation.strategy}" in async mode: it needs all of a round's updates at once; use fedavg, fedavgm, fedprox, fedadagrad, fedadam or fedyogi`,
    );
  }
  if (aggregation.strategy === "krum") {
    const needed = 2 * aggregation.krumF + 2;
    if (task.rounds.targetClients <= needed) {
      throw new TypeError(
        `Cannot use Krum with krumF = ${aggregation.krumF}: rounds.targetClients must be above 2f + 2 = ${needed}, got ${task.rounds.targetClients}`,
      );
    }
    if (aggregation.krumM > task.rounds.targetClients - aggregation.krumF) {
      throw new TypeError(
        `Cannot use multi-Krum with krumM = ${aggregation.krumM}: it must not exceed rounds.targetClients - krumF = ${
          task.rounds.targetClients - aggregation.krumF
        }`,
      );
    }
  }
}

/** `global + step` for the trainable weights; the others are kept. */
export function applyDelta(
  global: Map<string, Float32Tensor>,
  trainable: readonly WeightSpec[],
  delta: readonly Float32Array[],
): Map<string, Float32Tensor> {
  const next = new Map(global);
  trainable.forEach(({ name }, i) => {
    const current = global.get(name)!;
    const d = delta[i]!;
    const data = new Float32Array(current.data.length);
    for (let j = 0; j < data.length; j++) data[j] = current.data[j]! + d[j]!;
    next.set(name, { shape: current.shape, data });
  });
  return next;
}
