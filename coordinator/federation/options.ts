/**
 * The options a federation is created with, and the upstream an edge relays
 * its rounds to.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Dataset } from "../../shared/data/dataset.ts";
import type { Float32Tensor } from "../../shared/wire/safetensors.ts";
import type { RoundMetrics, TaskConfig } from "../../shared/schemas/mod.ts";
import type { TaskStorage } from "../storage/storage.ts";
import type { ValidatePool } from "../ingest/validate_pool.ts";

/**
 * What `Federation.create` takes: the task and its model, and optionally
 * the rows to evaluate and fine-tune on, where to keep checkpoints and state,
 * and an upstream to relay to (an edge).
 *
 * @example
 * ```ts
 * import type { FederationOptions } from "./options.ts";
 * import { buildModel } from "../../shared/model/model.ts";
 * import { mnistMlpTask } from "../../shared/tasks/mnist_mlp.ts";
 * const task = mnistMlpTask();
 * const options: FederationOptions = { task, model: await buildModel(task.model.topology) };
 * ```
 */
export interface FederationOptions {
  /** The task. */
  task: TaskConfig;
  /** The model, built from the task's topology, holding the initial global weights. */
  model: tf.LayersModel;
  /** Labeled rows the global model is evaluated on after each round. @default none */
  holdout?: Dataset;
  /**
   * Labeled rows the coordinator holds: after each aggregation it fine-tunes
   * the global model on them with R-Drop (`task.serverTraining`), as in SemiFL.
   * @default none
   */
  serverData?: Dataset;
  /** Folder of the run's checkpoints. @default none (no checkpoints) */
  runDir?: string;
  /**
   * Durable state: with it, every accepted update is stored before it is
   * answered, every round's close is one transaction, and a federation created
   * over saved state resumes it (the same round, version and accepted
   * updates). Accepted updates' bytes go to it with group commit
   * (`Federation.accept`). The federation knows only this interface
   * (storage.ts), not where it keeps things. @default none (state in memory only)
   */
  storage?: TaskStorage;
  /** The task file (JSON) of a task created over HTTP, saved so a restart re-creates it. */
  source?: string;
  /** Called with each round's metrics once the round is closed. */
  onRound?: (metrics: RoundMetrics) => void;
  /** Called when closing a round fails; the round is then retried. @default console.error */
  onError?: (error: unknown) => void;
  /**
   * Edge mode: a round's combined update goes to an upstream coordinator
   * instead of being applied here, and the next round starts from the global
   * upstream issues next. @default none
   */
  relay?: Relay;
  /**
   * Keep a copy of every accepted update, as sent, in
   * `<runDir>/updates/round-NNNN/<client>.safetensors` (for audits and to
   * recompute a run). @default false
   */
  keepUpdates?: boolean;
  /** Validates updates off the event loop (`Federation.accept`). @default on the event loop */
  validator?: ValidatePool;
  /** The round and version of the initial global (an edge starts where its cloud is). @default round 1, version 0 */
  start?: { round: number; version: number };
}

/** A round's combined update, as an edge forwards it. */
export interface RelayedUpdate {
  round: number;
  baseVersion: number;
  /** The weighted mean of the round's deltas, per trainable weight. */
  delta: Map<string, Float32Tensor>;
  /** Summed over the round's updates, so the cloud weights the edge by them. */
  numLabeled: number;
  numUnlabeled: number;
  /** How many updates (devices) it combines. */
  devices: number;
}

/** Where an edge sends its rounds (see {@linkcode FederationOptions.relay}). */
export interface Relay {
  /**
   * Delivers `update` upstream (retrying until it is accepted or refused as
   * stale) and resolves with the global the cloud issues next.
   */
  forward(update: RelayedUpdate): Promise<{
    round: number;
    version: number;
    global: Map<string, Float32Tensor>;
    finished: boolean;
  }>;
}
