/**
 * Federated rounds for one task: the global model, the updates of the open
 * round, and what happens when a round closes. `Federation` is the public
 * face; the protocol's stages are functions over an explicit state, one
 * file per concern in `federation/` (see docs/architecture.md).
 * @module
 */
import type { WeightSpec } from "../../shared/model/model.ts";
import type { Status, TaskConfig, TaskResponse, UpdateAccepted } from "../../shared/schemas/mod.ts";
import type { PublicKeys, RevealedShare, SealedShare } from "../../shared/secagg/client.ts";
import type { SecureAccepted, SecureState } from "../../shared/secagg/wire.ts";
import { removeUnfinishedCheckpoints } from "../storage/checkpoint.ts";
import { privacyStatus } from "../privacy/privacy_task.ts";
import type { UpdateRecord } from "../storage/storage.ts";
import type { StreamedUpdate } from "../ingest/update_stream.ts";
import type { ValidateUpdateOptions } from "../ingest/validate_update.ts";
import type { FederationOptions } from "./options.ts";
import { FederationState, type GlobalModel } from "./_state.ts";
import { reportFailure, submit } from "./_admission.ts";
import { accept, acceptStreamed } from "./_spooled_admission.ts";
import { clientsStatus, seen } from "./_clients.ts";
import { pause, resume, settled, stop } from "./_lifecycle.ts";
import { resume as resumeStored, start } from "./_restore.ts";
import { globalModel } from "./_round/outputs.ts";
import { checkSelected } from "./_selection.ts";
import {
  secureInput,
  secureKeys,
  secureReveal,
  secureShares,
  secureState,
} from "./_secure_stages.ts";
import { elementCount } from "../../shared/shape.ts";

export type { FederationOptions, Relay, RelayedUpdate } from "./options.ts";

/**
 * The coordinator's state machine. A round opens with the current global;
 * it closes when `targetClients` updates have arrived, or at its deadline once
 * `minClients` have. Closing averages the deltas (FedAvg), applies them,
 * evaluates, checkpoints and opens the next round.
 *
 * @example
 * ```ts
 * import { Federation } from "./federation.ts";
 * import { buildModel } from "../../shared/model/model.ts";
 * import { mnistMlpTask } from "../../shared/tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const task = mnistMlpTask();
 * const federation = await Federation.create({ task, model: await buildModel(task.model.topology) });
 * assert.equal(federation.status().round, 1);
 * federation.close();
 * ```
 */
export class Federation {
  readonly task: TaskConfig;
  readonly weights: WeightSpec[];
  readonly trainable: WeightSpec[];
  readonly #s: FederationState;

  private constructor(options: FederationOptions) {
    this.#s = new FederationState(options);
    this.task = this.#s.task;
    this.weights = this.#s.weights;
    this.trainable = this.#s.trainable;
  }

  /**
   * Creates the federation, evaluates the initial model (round 0) and opens
   * round 1; or, when `store` holds this task's state, resumes it.
   */
  static async create(options: FederationOptions): Promise<Federation> {
    const federation = new Federation(options);
    if (options.runDir) await removeUnfinishedCheckpoints(options.runDir);
    const saved = options.storage?.load();
    if (!saved) {
      await start(federation.#s);
      return federation;
    }
    try {
      await resumeStored(federation.#s, saved);
    } catch (error) {
      federation.close();
      throw error;
    }
    return federation;
  }

  /** The current round. */
  get round(): number {
    return this.#s.round;
  }

  /** The version of the global model (the number of aggregations so far). */
  get version(): number {
    return this.#s.version;
  }

  /** Resolves when the last round has closed. */
  get finished(): Promise<void> {
    return this.#s.finished.promise;
  }

  /** GET /v1/task. */
  taskResponse(): TaskResponse {
    const s = this.#s;
    return {
      ...this.task,
      training: s.strategy.configureTraining(this.task.training),
      round: s.round,
      version: s.version,
      phase: s.phase,
      weights: this.trainable,
      resumableUploads: this.takesUploads,
    };
  }

  /** Whether clients may send resumable uploads: a run folder to keep them in, and no secure aggregation. */
  get takesUploads(): boolean {
    return this.#s.options.runDir !== undefined && !this.#s.secureParams;
  }

  /** The run folder (where resumable uploads are kept), if any. */
  get runDir(): string | undefined {
    return this.#s.options.runDir;
  }

  /** The global weights, in safetensors and tfjs format, cached per version. */
  globalModel(): GlobalModel {
    return globalModel(this.#s);
  }

  /** Largest update body that can be valid, in bytes. */
  maxUpdateBytes(): number {
    const values = this.trainable.reduce((n, w) => n + elementCount(w.shape), 0);
    return values * 4 + 64 * 1024 + this.trainable.length * 256;
  }

  /**
   * Records that `clientId` fetched the open round's model: it takes part, and
   * if no update of it arrives before the round closes, the round lists it
   * as a failure.
   */
  join(clientId: string): void {
    seen(this.#s, clientId);
    checkSelected(this.#s, clientId);
    if (this.#s.phase === "training") this.#s.participants.add(clientId);
  }

  /**
   * A client reports that it could not train in `round` (an error, no data,
   * the user left). Recorded as a failure of the open round; 409 for a round
   * that is not open.
   */
  reportFailure(report: { clientId: string; round: number; reason: string }): { round: number } {
    return reportFailure(this.#s, report);
  }

  /**
   * GET /v1/secagg: where the open round's secure protocol stands, and what
   * `clientId` needs next; with `round`, that round's (the open one or the
   * one closed last, so a client learns how its round ended).
   */
  secureState(clientId: string, round?: number): SecureState {
    return secureState(this.#s, clientId, round);
  }

  /** POST /v1/secagg/keys: stage keys. */
  secureKeys(
    clientId: string,
    round: number,
    keys: Omit<PublicKeys, "id">,
    about: { backend?: string; device?: string; runtime?: string; vocabulary?: string } = {},
  ): SecureAccepted {
    return secureKeys(this.#s, clientId, round, keys, about);
  }

  /** POST /v1/secagg/shares: stage shares. */
  secureShares(
    clientId: string,
    round: number,
    shares: Omit<SealedShare, "from">[],
  ): SecureAccepted {
    return secureShares(this.#s, clientId, round, shares);
  }

  /** POST /v1/secagg/input: stage input, the masked input as integers modulo 2^bits. */
  secureInput(clientId: string, round: number, input: Uint32Array): SecureAccepted {
    return secureInput(this.#s, clientId, round, input);
  }

  /** POST /v1/secagg/reveal: stage unmask. */
  secureReveal(
    clientId: string,
    round: number,
    shares: Omit<RevealedShare, "from">[],
  ): SecureAccepted {
    return secureReveal(this.#s, clientId, round, shares);
  }

  /**
   * Validates one update and stores it in the open round (durably, with a
   * store, before it returns). `clientId`: the authenticated sender, which the
   * update's metadata may only repeat. A resend of an accepted update gets
   * the first answer again. Throws `ApiError`: 409 when stale or a
   * different second one from the same client, 400 when invalid, 403 when
   * sent for another client. A rejected update changes nothing.
   */
  submit(bytes: Uint8Array, options: { clientId?: string } = {}): UpdateAccepted {
    return submit(this.#s, bytes, options);
  }

  /**
   * POST /v1/updates: {@linkcode submit}, but with a spool (a run folder) the
   * update's bytes are appended to it with group commit, off the event loop,
   * and the update is stored and answered once they are on disk: updates that
   * arrive while one batch is written share the next. A round that closed
   * meanwhile refuses it (409), as it would have before.
   */
  accept(bytes: Uint8Array, options: { clientId?: string } = {}): Promise<UpdateAccepted> {
    return accept(this.#s, bytes, options);
  }

  /**
   * Whether POST /v1/updates can stream an update into the spool
   * ({@linkcode acceptStreamed}): a spool, f32 updates, and a strategy that
   * folds each update into a running sum as it comes.
   */
  get streamsUpdates(): boolean {
    const s = this.#s;
    return s.options.storage !== undefined &&
      this.task.codec.kind === "f32" && !s.secureParams &&
      !s.strategy.needsAllUpdates && s.strategy.aggregateMean !== undefined;
  }

  /** What a streamed update is checked against (update_stream.ts). */
  get validation(): ValidateUpdateOptions {
    return this.#s.validation;
  }

  /** A new spool record for an update that streams in ({@linkcode streamsUpdates}). */
  spoolRecord(): UpdateRecord {
    if (!this.streamsUpdates) throw new Error("This task does not stream updates");
    return this.#s.options.storage!.record();
  }

  /**
   * POST /v1/updates for an update checked as it streamed into `record`
   * (UpdateStreamCheck): checked against the round as {@linkcode accept}
   * does, then committed with the spool's next batch, and folded from the
   * record. The record is aborted when the update is refused or a resend.
   */
  acceptStreamed(
    streamed: StreamedUpdate,
    record: UpdateRecord,
    options: { clientId?: string } = {},
  ): Promise<UpdateAccepted> {
    return acceptStreamed(this.#s, streamed, record, options);
  }

  /** GET /v1/status. */
  status(): Status {
    const s = this.#s;
    return {
      taskId: this.task.id,
      round: s.round,
      version: s.version,
      phase: s.phase,
      totalRounds: this.task.rounds.total,
      received: s.secure ? s.secure.progress : s.pending.size,
      targetClients: this.task.rounds.targetClients,
      strategy: s.strategy.name,
      mode: this.task.rounds.mode,
      clients: clientsStatus(s),
      history: [...s.history],
      finalModel: s.finalModel,
      deadline: s.phase === "training" && s.deadlineAt !== null && !s.deadlinePassed
        ? new Date(s.deadlineAt).toISOString()
        : null,
      ...(s.secure ? { secureStage: s.secure.stage } : {}),
      ...(s.privacy
        ? {
          privacy: privacyStatus(s.privacy, s.history, {
            finished: s.phase === "finished",
            totalRounds: this.task.rounds.total,
          }),
        }
        : {}),
    };
  }

  /** Pauses the open round: updates are refused (409) and the deadline stops until {@linkcode resume}. */
  pause(): void {
    pause(this.#s);
  }

  /** Resumes a paused round with a fresh deadline. */
  resume(): void {
    resume(this.#s);
  }

  /**
   * Stops the run after any round being closed: the open round's updates are
   * dropped, the final model is exported, and `finished` resolves.
   */
  stop(): Promise<void> {
    return stop(this.#s);
  }

  /** Waits for a round being closed, if any; for tests and shutdown. */
  settled(): Promise<void> {
    return settled(this.#s);
  }

  /** Stops the deadline timer. */
  close(): void {
    const s = this.#s;
    clearTimeout(s.timer);
    s.secure?.close();
    s.options.storage?.close();
    s.evaluator?.dispose();
    s.evaluator = null;
    s.serverTrainer?.dispose();
    s.serverTrainer = null;
  }
}
