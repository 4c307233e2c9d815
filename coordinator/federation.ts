/**
 * Synchronous federated rounds: the global model, the updates of the open
 * round, and what happens when a round closes.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type Dataset, reshapeRows } from "../shared/dataset.ts";
import { readWeights, type WeightSpec, weightSpecs, writeWeights } from "../shared/model.ts";
import { decodeSafetensors, encodeSafetensors, type Float32Tensor } from "../shared/safetensors.ts";
import type {
  Phase,
  RoundMetrics,
  Status,
  TaskConfig,
  TaskResponse,
  UpdateAccepted,
  UpdateCodec,
  UpdateMetadata,
} from "../shared/schemas.ts";
import { type TfjsArtifacts, toTfjsArtifacts } from "../shared/tfjs_format.ts";
import { removeUnfinishedCheckpoints, writeCheckpoint } from "./checkpoint.ts";
import { exportAdapters } from "./_lora_export.ts";
import { maybeCrash } from "./_fault.ts";
import { decodeStrategyState, encodeStrategyState } from "./_strategy_state.ts";
import { ApiError } from "./errors.ts";
import { type ClientFailure, createStrategy, type Strategy } from "./strategy.ts";
import { stalenessWeight } from "./aggregate/staleness.ts";
import { clientWeight } from "./aggregate/fed_avg.ts";
import { RunningSum } from "./aggregate/running_sum.ts";
import { isSelected } from "./select_clients.ts";
import { Evaluator } from "../shared/evaluate.ts";
import { LocalTrainer } from "../client/trainer.ts";
import {
  readUpdateMetadata,
  validateUpdate,
  type ValidateUpdateOptions,
  type ValidUpdate,
} from "./validate_update.ts";

/** The bytes an update streamed into the spool is admitted with (they are in its record). */
const EMPTY = new Uint8Array(0);
/** The piece of each streamed update read at a time when a batch is folded. */
const BATCH_READ_PIECE = 256 * 1024;
import {
  type BytesRef,
  StateError,
  type StoredTask,
  type StoredUpdate,
  type TaskStorage,
  type UpdateRecord,
} from "./storage.ts";
import type { StreamedUpdate, TensorRegion } from "./update_stream.ts";
import type { ValidatePool } from "./validate_pool.ts";
import {
  applyDelta,
  checkStrategy,
  type ClientRecord,
  type RoundSummary,
  storedClient,
  summarize,
} from "./_round_parts.ts";
import { type SecureEvent, type SecureOutcome, SecureRound } from "./secure_round.ts";
import { checkSecureTask, inputLength, secureMean } from "./_secure_task.ts";
import type { SecureParams } from "../shared/secagg/params.ts";
import { graphSeed } from "../shared/secagg/params.ts";
import type { PublicKeys, RevealedShare, SealedShare } from "../shared/secagg/client.ts";
import type { SecureAccepted, SecureState } from "../shared/secagg/wire.ts";
import {
  checkPrivacyTask,
  isDrawn,
  privacyAfterRound,
  type PrivacyParams,
  privacyStatus,
} from "./_privacy_task.ts";
import { clipFactor, noisedMean } from "../shared/privacy/mechanism.ts";

/** Options of {@linkcode Federation.create}. */
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
   * ({@linkcode Federation.accept}). The federation knows only this interface
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
  /** Validates updates off the event loop ({@linkcode Federation.accept}). @default on the event loop */
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

const RETRY_CLOSE_MS = 2000;

/** An update that passed the open round's checks, not yet stored. */
interface Checked {
  metadata: UpdateMetadata;
  clientId: string;
  digest: string;
  key: string;
  update: ValidUpdate & { spooled?: Omit<SpooledValues, "ref"> };
  staleness: number;
}

/** An update whose values are in a spool record, not in memory (streamed in). */
interface SpooledValues {
  ref: BytesRef;
  regions: TensorRegion[];
  /** Its values' factor (below 1 when clipped to the norm bound). */
  factor: number;
}

interface PendingUpdate {
  clientId: string;
  update: ValidUpdate & { spooled?: SpooledValues };
  /** Versions between the update's base and the global it is applied to. */
  staleness: number;
}

/**
 * The coordinator's state machine. A round opens with the current global;
 * it closes when `targetClients` updates have arrived, or at its deadline once
 * `minClients` have. Closing averages the deltas (FedAvg), applies them,
 * evaluates, checkpoints and opens the next round.
 *
 * @example
 * ```ts
 * import { Federation } from "./federation.ts";
 * import { buildModel } from "../shared/model.ts";
 * import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
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
  #model: tf.LayersModel;
  #global: Map<string, Float32Tensor>;
  #evaluator: Evaluator | null;
  #options: FederationOptions;
  #round = 1;
  #version = 0;
  #phase: Phase = "training";
  #openedAt = performance.now();
  #deadlinePassed = false;
  /** When the open round's deadline passes (ms since the epoch), or null when none runs. */
  #deadlineAt: number | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The open round's (or async buffer's) updates, by client (async: by client and arrival). */
  #pending = new Map<string, PendingUpdate>();
  #clients = new Map<string, ClientRecord>();
  #history: RoundMetrics[] = [];
  /** The answer given to each accepted update, by `clientId:sha256`, for idempotent resends. */
  #answers = new Map<string, string>();
  #cache: { round: number; version: number; safetensors: Uint8Array; tfjs: TfjsArtifacts } | null =
    null;
  #closing: Promise<void> | null = null;
  #finalModel: string | null = null;
  #serverTrainer: LocalTrainer | null;
  #strategy: Strategy;
  /** Clients that fetched the open round's model (with their id), and explicit failures. */
  #participants = new Set<string>();
  /** The open round's running sum (strategies that are sums), or null. */
  #sum: RunningSum | null = null;
  /** Streamed updates admitted but not yet folded (#foldUnfolded), and the buffers they are read into. */
  #unfolded: { sum: RunningSum; spooled: SpooledValues; weight: number; scale: number }[] = [];
  #readBuffers: Uint8Array[] = [];
  #failed = new Map<string, string>();
  #finished: { promise: Promise<void>; resolve: () => void };
  /** Secure aggregation's parameters (null for a plain task), and the open round's protocol. */
  readonly #secureParams: SecureParams | null;
  #secure: SecureRound | null = null;
  /** Updates being stored (spool), by key: a resend of the same bytes waits for the same answer. */
  #inFlight = new Map<string, { digest: string; promise: Promise<UpdateAccepted> }>();
  /** The secure round closed last, so its clients can learn how it ended. */
  #lastSecure: { round: number; secure: SecureRound } | null = null;
  /** A secure round's outcome, kept until its close is committed (a failed close is retried). */
  #secureOutcome: SecureOutcome | null = null;
  /** Differential privacy's parameters (null without), the secret of its sampling, the L2 bound. */
  readonly #privacy: PrivacyParams | null;
  #samplingSecret: Uint8Array;
  #clip = 0;
  /** Central mode: the open round's updates within the bound (adaptive clipping). */
  #within = 0;

  private constructor(options: FederationOptions) {
    this.task = options.task;
    this.#options = options;
    this.#model = options.model;
    this.weights = weightSpecs(options.model);
    this.trainable = weightSpecs(options.model, { trainableOnly: true });
    this.#global = readWeights(options.model);
    this.#strategy = createStrategy(options.task.aggregation);
    checkStrategy(options.task, this.#strategy);
    this.#secureParams = checkSecureTask(options.task, this.#strategy);
    this.#privacy = checkPrivacyTask(options.task, this.#strategy, this.#secureParams);
    this.#clip = this.#privacy?.clip ?? 0;
    // A secret no client can predict; kept with the run so a restart draws the same.
    this.#samplingSecret = options.storage?.secret("sampling") ??
      crypto.getRandomValues(new Uint8Array(32));
    // Rows are used in the task's shape (e.g. 784 values as [28, 28, 1]).
    const shaped = (data: Dataset): Dataset => reshapeRows(data, options.task.input.shape);
    this.#evaluator = options.holdout ? new Evaluator(shaped(options.holdout)) : null;
    if (options.serverData && !options.task.serverTraining) {
      throw new TypeError(
        "Cannot fine-tune at the server: the task has no serverTraining settings",
      );
    }
    this.#serverTrainer = options.serverData
      ? new LocalTrainer(options.model, shaped(options.serverData), {
        seed: options.task.model.seed,
      })
      : null;
    let resolve = () => {};
    const promise = new Promise<void>((r) => (resolve = r));
    this.#finished = { promise, resolve };
  }

  /**
   * Creates the federation, evaluates the initial model (round 0) and opens
   * round 1; or, when `store` holds this task's state, resumes it.
   */
  static async create(options: FederationOptions): Promise<Federation> {
    const federation = new Federation(options);
    if (options.runDir) await removeUnfinishedCheckpoints(options.runDir);
    const saved = options.storage?.load();
    if (saved) {
      try {
        await federation.#restore(saved);
      } catch (error) {
        federation.close();
        throw error;
      }
      return federation;
    }
    const start = options.start ?? { round: 1, version: 0 };
    federation.#round = start.round;
    federation.#version = start.version;
    const initial = await federation.#measure(
      start.round - 1,
      summarize([]),
      start.version,
      performance.now(),
      federation.#global,
    );
    options.storage?.saveInitial({
      round: start.round,
      version: start.version,
      phase: "training",
      global: encodeSafetensors(federation.#global),
      metrics: [initial],
    }, options.source);
    federation.#history.push(initial);
    options.onRound?.(initial);
    federation.#open();
    return federation;
  }

  /** Takes up saved state: the global, the round, its accepted updates and the answers given. */
  async #restore(saved: StoredTask): Promise<void> {
    const decoded = decodeSafetensors(saved.global);
    for (const spec of this.weights) {
      const tensor = decoded.tensors.get(spec.name);
      if (!tensor || tensor.data.length !== spec.shape.reduce((a, b) => a * b, 1)) {
        throw new StateError(
          `Cannot resume task "${this.task.id}": the saved global has no weight "${spec.name}" of shape [${spec.shape}]`,
        );
      }
    }
    this.#global = new Map(this.weights.map((w) => [w.name, decoded.tensors.get(w.name)!]));
    if (saved.strategy) this.#strategy.loadState(decodeStrategyState(saved.strategy));
    writeWeights(this.#model, this.#global);
    this.#round = saved.round;
    this.#version = saved.version;
    this.#history = saved.history;
    this.#answers = saved.answers;
    const lastPrivate = saved.history.findLast((h) => h.privacy);
    if (lastPrivate?.privacy) this.#clip = lastPrivate.privacy.nextClip;
    for (const c of saved.clients) {
      this.#clients.set(c.id, {
        ...c,
        lastSeen: new Date(c.lastSeen),
        device: c.device ?? null,
        runtime: c.runtime ?? null,
        updatesRejected: 0,
        lastRejection: null,
        numLabeled: c.numLabeled ?? null,
        numUnlabeled: c.numUnlabeled ?? null,
        devices: c.devices ?? null,
      });
    }
    this.#open(saved.secure ?? []);
    for (const p of saved.pending) {
      let update: ValidUpdate;
      try {
        update = validateUpdate(this.#storedBytes(p), this.trainable, this.#validation);
      } catch (error) {
        throw new StateError(
          `Cannot resume task "${this.task.id}": a saved update of "${p.clientId}" no longer validates (${
            error instanceof Error ? error.message : error
          })`,
        );
      }
      this.#hold(p.key, { clientId: p.clientId, update, staleness: p.staleness });
      this.#participants.add(p.clientId);
    }
    // Segments no stored update refers to (a batch that never committed) go.
    this.#options.storage?.prune(saved.pending);
    if (saved.phase === "finished" || saved.phase === "stopped") {
      clearTimeout(this.#timer);
      this.#phase = saved.phase;
      this.#pending.clear();
      await this.#exportFinal();
      this.#finished.resolve();
      return;
    }
    if (saved.phase === "paused") {
      clearTimeout(this.#timer);
      this.#phase = "paused";
      return;
    }
    this.#maybeClose();
  }

  /** A stored update's bytes: with it, or read back from the storage and checked. */
  #storedBytes(p: StoredUpdate): Uint8Array {
    if (!p.spool) return p.bytes;
    if (!this.#options.storage) {
      throw new Error("the update's bytes are kept apart, and no storage is open");
    }
    return this.#options.storage.bytesOf(p);
  }

  /** The current round. */
  get round(): number {
    return this.#round;
  }

  /** The version of the global model (the number of aggregations so far). */
  get version(): number {
    return this.#version;
  }

  /** Resolves when the last round has closed. */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /** GET /v1/task. */
  taskResponse(): TaskResponse {
    return {
      ...this.task,
      training: this.#strategy.configureTraining(this.task.training),
      round: this.#round,
      version: this.#version,
      phase: this.#phase,
      weights: this.trainable,
      resumableUploads: this.takesUploads,
    };
  }

  /** Whether clients may send resumable uploads: a run folder to keep them in, and no secure aggregation. */
  get takesUploads(): boolean {
    return this.#options.runDir !== undefined && !this.#secureParams;
  }

  /** The run folder (where resumable uploads are kept), if any. */
  get runDir(): string | undefined {
    return this.#options.runDir;
  }

  /** The global weights, in safetensors and tfjs format, cached per version. */
  globalModel(): { round: number; version: number; safetensors: Uint8Array; tfjs: TfjsArtifacts } {
    if (this.#cache?.version !== this.#version || this.#cache.round !== this.#round) {
      this.#cache = {
        round: this.#round,
        version: this.#version,
        safetensors: encodeSafetensors(this.#global, {
          round: String(this.#round),
          version: String(this.#version),
          taskId: this.task.id,
        }),
        tfjs: toTfjsArtifacts(this.task.model.topology, this.#global),
      };
    }
    return this.#cache;
  }

  /** Largest update body that can be valid, in bytes. */
  maxUpdateBytes(): number {
    const values = this.trainable.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
    return values * 4 + 64 * 1024 + this.trainable.length * 256;
  }

  /**
   * Records that `clientId` fetched the open round's model: it takes part, and
   * if no update of it arrives before the round closes, the round lists it
   * as a failure.
   */
  join(clientId: string): void {
    this.#seen(clientId);
    this.#checkSelected(clientId);
    if (this.#phase === "training") this.#participants.add(clientId);
  }

  /**
   * Sync rounds with `rounds.fraction` below 1: a client that is not drawn
   * for the open round is refused (409 not_selected) until the deadline has
   * passed, when any client may fill the quorum.
   */
  #checkSelected(clientId: string): void {
    const { fraction } = this.task.rounds;
    if (this.#privacy) {
      // Poisson sampling from a secret seed, with no filling-in after the
      // deadline: the accountant's sampling rate holds.
      const drawn = isDrawn(this.#samplingSecret, {
        taskId: this.task.id,
        clientId,
        round: this.#round,
        sampleRate: this.#privacy.sampleRate,
      });
      if (!drawn) {
        throw new ApiError(
          409,
          "not_selected",
          `Client "${clientId}" is not drawn for round ${this.#round} (Poisson sampling at rate ${fraction}, differential privacy); it may be drawn in a later round`,
        );
      }
      return;
    }
    if (this.#async || fraction >= 1 || this.#deadlinePassed) return;
    if (!isSelected({ taskId: this.task.id, clientId, round: this.#round, fraction })) {
      throw new ApiError(
        409,
        "not_selected",
        `Client "${clientId}" is not drawn for round ${this.#round} (fraction ${fraction}); it may join at the deadline or in a later round`,
      );
    }
  }

  /**
   * A client reports that it could not train in `round` (an error, no data,
   * the user left). Recorded as a failure of the open round; 409 for a round
   * that is not open.
   */
  reportFailure(report: { clientId: string; round: number; reason: string }): { round: number } {
    const roundOpen = this.#async ? report.round <= this.#round : report.round === this.#round;
    if (!roundOpen || this.#phase !== "training") {
      throw new ApiError(
        409,
        "stale_update",
        `Cannot record failure: round ${report.round} is not open (the open round is ${this.#round}, ${this.#phase})`,
      );
    }
    if (!this.#async && this.#pending.has(report.clientId)) {
      throw new ApiError(
        409,
        "duplicate_update",
        `Cannot record failure: client "${report.clientId}" already sent an update for round ${this.#round}`,
      );
    }
    this.#failed.set(report.clientId, report.reason);
    this.#participants.add(report.clientId);
    this.#seen(report.clientId);
    // A Poisson-sampled round may now have heard from every client drawn.
    if (this.#privacy) this.#maybeClose();
    return { round: this.#round };
  }

  /**
   * GET /v1/secagg: where the open round's secure protocol stands, and what
   * `clientId` needs next; with `round`, that round's (the open one or the
   * one closed last, so a client learns how its round ended).
   */
  secureState(clientId: string, round?: number): SecureState {
    const last = this.#lastSecure;
    if (
      round !== undefined && last?.round === round &&
      (round !== this.#round || !this.#secure || this.#phase === "finished")
    ) {
      return { round, ...last.secure.stateFor(clientId) };
    }
    if (round !== undefined && round !== this.#round && this.#secureParams) {
      throw new ApiError(
        409,
        "stale_update",
        `Cannot report secure round ${round}: the open round is ${this.#round}`,
      );
    }
    const secure = this.#secureRoundOpen("report the secure round");
    return { round: this.#round, ...secure.stateFor(clientId) };
  }

  /** POST /v1/secagg/keys: stage keys. */
  secureKeys(
    clientId: string,
    round: number,
    keys: Omit<PublicKeys, "id">,
    about: { backend?: string; device?: string; runtime?: string } = {},
  ): SecureAccepted {
    return this.#secureStep(clientId, round, "advertise keys", (secure) => {
      const available = this.#clients.size + (this.#clients.has(clientId) ? 0 : 1);
      if (available < this.#minAvailable) {
        throw new ApiError(
          409,
          "not_started",
          `Cannot advertise keys: rounds start once ${this.#minAvailable} clients have joined (${available} so far)`,
        );
      }
      this.#checkSelected(clientId);
      secure.addKeys({ id: clientId, ...keys });
      const client = this.#seen(clientId);
      client.backend = about.backend ?? client.backend;
      client.device = about.device ?? client.device;
      client.runtime = about.runtime ?? client.runtime;
    });
  }

  /** POST /v1/secagg/shares: stage shares. */
  secureShares(
    clientId: string,
    round: number,
    shares: Omit<SealedShare, "from">[],
  ): SecureAccepted {
    return this.#secureStep(
      clientId,
      round,
      "accept shares",
      (secure) => secure.addShares(clientId, shares.map((s) => ({ ...s, from: clientId }))),
    );
  }

  /** POST /v1/secagg/input: stage input, the masked input as integers modulo 2^bits. */
  secureInput(clientId: string, round: number, input: Uint32Array): SecureAccepted {
    return this.#secureStep(clientId, round, "accept a masked input", (secure) => {
      const known = secure.hasInput(clientId);
      secure.addInput(clientId, input);
      if (!known && this.#options.keepUpdates && this.#options.runDir) {
        const dir = join(
          this.#options.runDir,
          "updates",
          `round-${String(round).padStart(4, "0")}`,
        );
        Deno.mkdirSync(dir, { recursive: true });
        const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
        Deno.writeFileSync(join(dir, `${clientId}.masked`), bytes);
      }
    });
  }

  /** POST /v1/secagg/reveal: stage unmask. */
  secureReveal(
    clientId: string,
    round: number,
    shares: Omit<RevealedShare, "from">[],
  ): SecureAccepted {
    return this.#secureStep(
      clientId,
      round,
      "accept revealed shares",
      (secure) => secure.addReveal(clientId, shares.map((s) => ({ ...s, from: clientId }))),
    );
  }

  #secureRoundOpen(what: string): SecureRound {
    if (!this.#secureParams) {
      throw new ApiError(
        409,
        "invalid_phase",
        `Cannot ${what}: task "${this.task.id}" does not use secure aggregation`,
      );
    }
    if (this.#phase === "paused" || this.#phase === "stopped") {
      throw new ApiError(
        409,
        this.#phase === "paused" ? "task_paused" : "task_stopped",
        `Cannot ${what}: task "${this.task.id}" is ${this.#phase}`,
      );
    }
    if (!this.#secure || this.#phase === "finished") {
      throw new ApiError(409, "stale_update", `Cannot ${what}: the run is ${this.#phase}`);
    }
    return this.#secure;
  }

  #secureStep(
    clientId: string,
    round: number,
    what: string,
    step: (secure: SecureRound) => void,
  ): SecureAccepted {
    const secure = this.#secureRoundOpen(what);
    if (round !== this.#round) {
      throw new ApiError(
        round > this.#round ? 400 : 409,
        round > this.#round ? "bad_request" : "stale_update",
        `Cannot ${what}: round ${round} is not the open round ${this.#round}`,
      );
    }
    step(secure);
    this.#participants.add(clientId);
    this.#failed.delete(clientId);
    this.#seen(clientId);
    return { accepted: true, round, stage: secure.stage };
  }

  #seen(clientId: string): ClientRecord {
    const client = this.#clients.get(clientId) ??
      {
        id: clientId,
        lastSeen: new Date(),
        updatesAccepted: 0,
        backend: null,
        device: null,
        runtime: null,
        updatesRejected: 0,
        lastRejection: null,
        numLabeled: null,
        numUnlabeled: null,
        devices: null,
      };
    client.lastSeen = new Date();
    const arrived = !this.#clients.has(clientId);
    this.#clients.set(clientId, client);
    if (arrived) this.#options.storage?.saveClient(storedClient(client));
    // The client that completes minAvailable starts the open round's clock.
    if (arrived && this.#phase === "training" && this.#clients.size === this.#minAvailable) {
      this.#armDeadline();
    }
    return client;
  }

  get #minAvailable(): number {
    return this.task.rounds.minAvailable;
  }

  /** Whether enough clients have shown up for rounds to start (rounds.minAvailable). */
  get #started(): boolean {
    return this.#clients.size >= this.#minAvailable;
  }

  /**
   * Validates one update and stores it in the open round (durably, with a
   * store, before it returns). `clientId`: the authenticated sender, which the
   * update's metadata may only repeat. A resend of an accepted update gets
   * the first answer again. Throws {@linkcode ApiError}: 409 when stale or a
   * different second one from the same client, 400 when invalid, 403 when
   * sent for another client. A rejected update changes nothing.
   */
  submit(bytes: Uint8Array, options: { clientId?: string } = {}): UpdateAccepted {
    try {
      return this.#submit(bytes, options);
    } catch (error) {
      throw this.#refused(options.clientId, error);
    }
  }

  #submit(bytes: Uint8Array, options: { clientId?: string }): UpdateAccepted {
    const checked = this.#check(bytes, options);
    if ("resend" in checked) return checked.resend;
    return this.#admit(checked, bytes, null);
  }

  /**
   * POST /v1/updates: {@linkcode submit}, but with a spool (a run folder) the
   * update's bytes are appended to it with group commit, off the event loop,
   * and the update is stored and answered once they are on disk: updates that
   * arrive while one batch is written share the next. A round that closed
   * meanwhile refuses it (409), as it would have before.
   */
  async accept(bytes: Uint8Array, options: { clientId?: string } = {}): Promise<UpdateAccepted> {
    const storage = this.#options.storage;
    if (!storage) return this.submit(bytes, options);
    try {
      // Hashed and validated off the event loop (WebCrypto's digest, the validation worker).
      const digest = Array.from(
        new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
      const checkedRound = this.#checkRound(bytes, options, digest);
      if ("resend" in checkedRound) return checkedRound.resend;
      let checked: Checked;
      if (this.#options.validator) {
        const validated = await this.#options.validator.validate(
          bytes,
          this.trainable,
          this.#validation,
        );
        bytes = validated.bytes;
        checked = { ...checkedRound, update: validated.update };
      } else {
        checked = {
          ...checkedRound,
          update: validateUpdate(bytes, this.trainable, this.#validation),
        };
      }
      return await this.#spoolChecked(checked, bytes, (commit) => storage.append(bytes, commit));
    } catch (error) {
      throw this.#refused(options.clientId, error);
    }
  }

  /**
   * Whether POST /v1/updates can stream an update into the spool
   * ({@linkcode acceptStreamed}): a spool, f32 updates, and a strategy that
   * folds each update into a running sum as it comes.
   */
  get streamsUpdates(): boolean {
    return this.#options.storage !== undefined &&
      this.task.codec.kind === "f32" && !this.#secureParams &&
      !this.#strategy.needsAllUpdates && this.#strategy.aggregateMean !== undefined;
  }

  /** What a streamed update is checked against (update_stream.ts). */
  get validation(): ValidateUpdateOptions {
    return this.#validation;
  }

  /** A new spool record for an update that streams in ({@linkcode streamsUpdates}). */
  spoolRecord(): UpdateRecord {
    if (!this.streamsUpdates) throw new Error("This task does not stream updates");
    return this.#options.storage!.record();
  }

  /**
   * POST /v1/updates for an update checked as it streamed into `record`
   * (UpdateStreamCheck): checked against the round as {@linkcode accept}
   * does, then committed with the spool's next batch, and folded from the
   * record. The record is aborted when the update is refused or a resend.
   */
  async acceptStreamed(
    streamed: StreamedUpdate,
    record: UpdateRecord,
    options: { clientId?: string } = {},
  ): Promise<UpdateAccepted> {
    let committing = false;
    try {
      const checkedRound = this.#checkRoundOf(streamed.metadata, options, streamed.digest);
      if ("resend" in checkedRound) {
        record.abort();
        return checkedRound.resend;
      }
      const checked: Checked = {
        ...checkedRound,
        update: {
          metadata: streamed.metadata,
          tensors: [],
          bytes: streamed.bytes,
          norm: streamed.norm,
          clipped: streamed.factor < 1,
          spooled: { regions: streamed.regions, factor: streamed.factor },
        },
      };
      const answer = await this.#spoolChecked(checked, EMPTY, (commit) => {
        committing = true;
        return record.commit(commit);
      });
      // A resend of bytes being stored got the first's answer: this copy is not wanted.
      if (!committing) record.abort();
      return answer;
    } catch (error) {
      if (!committing) record.abort();
      throw this.#refused(options.clientId, error);
    }
  }

  /**
   * Stores a checked update through `append` (the spool's group commit) and
   * admits it in the batch's transaction, if its round is still open; a
   * resend of the same bytes while the first are stored gets their answer.
   */
  async #spoolChecked(
    checked: Checked,
    bytes: Uint8Array,
    append: (commit: (ref: BytesRef) => UpdateAccepted) => Promise<UpdateAccepted>,
  ): Promise<UpdateAccepted> {
    const flightKey = `${checked.clientId}:${checked.digest}`;
    const inFlight = this.#inFlight.get(checked.key);
    if (inFlight) {
      // The same bytes again while the first are being stored: the same answer.
      if (inFlight.digest === checked.digest) return await inFlight.promise;
      if (!this.#async) {
        throw new ApiError(
          409,
          "duplicate_update",
          `Cannot accept update: client "${checked.clientId}" is already sending one for round ${this.#round}`,
        );
      }
    }
    const round = this.#round;
    const version = this.#version;
    const promise = append((ref) => {
      // Still the round it was checked for, and still not there twice.
      const answer = this.#answers.get(flightKey);
      if (answer) return JSON.parse(answer) as UpdateAccepted;
      if (
        this.#round !== round || this.#phase !== "training" ||
        (!this.#async && this.#version !== version)
      ) {
        throw new ApiError(
          409,
          "stale_update",
          `Cannot accept update: round ${round} closed while it was being stored`,
        );
      }
      if (this.#async) this.#checkAsync(checked.metadata);
      else if (this.#pending.has(checked.key)) {
        throw new ApiError(
          409,
          "duplicate_update",
          `Cannot accept update: client "${checked.clientId}" already sent one for round ${this.#round}`,
        );
      }
      return this.#admit(checked, bytes, { ...ref, sha256: checked.digest });
    }).catch((error) => {
      if (error instanceof ApiError) throw error;
      // The write failed (or the round's segment went with its close).
      if (this.#round !== round) {
        throw new ApiError(409, "stale_update", `Cannot accept update: round ${round} closed`);
      }
      throw error;
    });
    this.#inFlight.set(checked.key, { digest: checked.digest, promise });
    try {
      return await promise;
    } finally {
      if (this.#inFlight.get(checked.key)?.promise === promise) {
        this.#inFlight.delete(checked.key);
      }
    }
  }

  /**
   * Counts a known client's refusal, with the last reason (the federation's
   * state is otherwise unchanged), and returns the error to throw.
   */
  #refused(clientId: string | undefined, error: unknown): unknown {
    const known = clientId !== undefined ? this.#clients.get(clientId) : null;
    if (known && error instanceof ApiError) {
      known.updatesRejected++;
      known.lastRejection = `${error.code}: ${error.message}`.slice(0, 300);
    }
    return error;
  }

  /** Checks an update against the open round; a resend of an accepted one gets its first answer. */
  #check(bytes: Uint8Array, options: { clientId?: string }): Checked | { resend: UpdateAccepted } {
    const checked = this.#checkRound(
      bytes,
      options,
      createHash("sha256").update(bytes).digest("hex"),
    );
    if ("resend" in checked) return checked;
    return { ...checked, update: validateUpdate(bytes, this.trainable, this.#validation) };
  }

  /** {@linkcode #check} but the update's contents: its sender, the round, the resend, the draw. */
  #checkRound(
    bytes: Uint8Array,
    options: { clientId?: string },
    digest: string,
  ): Omit<Checked, "update"> | { resend: UpdateAccepted } {
    return this.#checkRoundOf(readUpdateMetadata(bytes), options, digest);
  }

  /** {@linkcode #checkRound} once the update's metadata is read. */
  #checkRoundOf(
    metadata: UpdateMetadata,
    options: { clientId?: string },
    digest: string,
  ): Omit<Checked, "update"> | { resend: UpdateAccepted } {
    // An authenticated sender submits as itself only.
    if (options.clientId !== undefined) {
      if (metadata.clientId !== undefined && metadata.clientId !== options.clientId) {
        throw new ApiError(
          403,
          "forbidden",
          `Client "${options.clientId}" cannot submit as "${metadata.clientId}"`,
        );
      }
      metadata.clientId = options.clientId;
    }
    if (this.#phase === "paused" || this.#phase === "stopped") {
      throw new ApiError(
        409,
        this.#phase === "paused" ? "task_paused" : "task_stopped",
        `Cannot accept update: task "${this.task.id}" is ${this.#phase}`,
      );
    }
    if (this.#secureParams) {
      throw new ApiError(
        400,
        "secure_aggregation_required",
        `Cannot accept update: task "${this.task.id}" uses secure aggregation, so the coordinator takes masked inputs only (/v1/secagg); the plain update was not stored`,
      );
    }
    // Without an id, the update's digest names its sender, so a resend is still recognised.
    const clientId = metadata.clientId ?? `anonymous-${digest.slice(0, 16)}`;
    // A resend of an accepted update is answered as the first time.
    const answer = this.#answers.get(`${clientId}:${digest}`);
    if (answer) return { resend: JSON.parse(answer) as UpdateAccepted };
    // The sender counts towards minAvailable, but is only recorded once its
    // update is accepted: a refused update changes nothing.
    const available = this.#clients.size + (this.#clients.has(clientId) ? 0 : 1);
    if (available < this.#minAvailable) {
      throw new ApiError(
        409,
        "not_started",
        `Cannot accept update: rounds start once ${this.#minAvailable} clients have joined (${available} so far)`,
      );
    }
    const staleness = this.#async
      ? this.#checkAsync(metadata)
      : this.#checkSync(metadata, clientId);
    if (metadata.clientId) this.#checkSelected(clientId);
    // Async: a client may have several updates in a buffer, told apart by their bytes.
    const key = this.#async ? `${clientId}#${digest.slice(0, 32)}` : clientId;
    return { metadata, clientId, digest, key, staleness };
  }

  /**
   * Stores a checked update (its bytes in the state, or at `spool` in the
   * spool) and folds it into the open round; durable before it returns.
   */
  #admit(
    checked: Checked,
    bytes: Uint8Array,
    spool: StoredUpdate["spool"] | null,
  ): UpdateAccepted {
    const { metadata, clientId, digest, key, update, staleness } = checked;
    const accepted: UpdateAccepted = {
      accepted: true,
      round: this.#round,
      received: this.#pending.size + 1,
      targetClients: this.task.rounds.targetClients,
    };
    const known = this.#clients.get(clientId);
    const client: ClientRecord = {
      id: clientId,
      lastSeen: new Date(),
      updatesAccepted: (known?.updatesAccepted ?? 0) + 1,
      backend: metadata.backend ?? known?.backend ?? null,
      device: metadata.device ?? known?.device ?? null,
      runtime: metadata.runtime ?? known?.runtime ?? null,
      updatesRejected: known?.updatesRejected ?? 0,
      lastRejection: known?.lastRejection ?? null,
      numLabeled: metadata.numLabeled,
      numUnlabeled: metadata.numUnlabeled,
      devices: metadata.devices ?? null,
    };
    const response = JSON.stringify(accepted);
    // Durable before it is answered; if storing fails, nothing has changed.
    const stored: StoredUpdate = spool
      ? { key, clientId, staleness, bytes: new Uint8Array(0), spool }
      : { key, clientId, staleness, bytes };
    this.#options.storage?.saveUpdate(
      stored,
      { digest, response },
      storedClient(client),
    );
    this.#answers.set(`${clientId}:${digest}`, response);
    // Streamed in: its values are read back from its spool record when folded.
    const { spooled, ...values } = update;
    const held: PendingUpdate["update"] = spooled && spool
      ? { ...values, spooled: { ...spooled, ref: spool } }
      : values;
    if (this.#options.keepUpdates && this.#options.runDir) {
      const dir = join(
        this.#options.runDir,
        "updates",
        `round-${String(this.#round).padStart(4, "0")}`,
      );
      Deno.mkdirSync(dir, { recursive: true });
      const path = join(dir, `${key.replace(/[^A-Za-z0-9._-]/g, "_")}.safetensors`);
      if (held.spooled && this.#options.storage) {
        const ref = { ...held.spooled.ref, sha256: digest };
        Deno.writeFileSync(path, this.#options.storage.bytesOf({ ...stored, spool: ref }));
      } else Deno.writeFileSync(path, bytes);
    }
    this.#hold(key, { clientId, update: held, staleness });
    this.#participants.add(clientId);
    this.#failed.delete(clientId);
    Object.assign(this.#seen(clientId), client);
    this.#maybeClose();
    return accepted;
  }

  /** Sync: the update is for the open round and its version, and the client's first. */
  #checkSync(metadata: UpdateMetadata, clientId: string): number {
    if (metadata.round > this.#round) {
      throw new ApiError(
        400,
        "invalid_update",
        `Cannot accept update: round ${metadata.round} has not opened`,
      );
    }
    if (metadata.round < this.#round || this.#phase !== "training") {
      throw new ApiError(
        409,
        "stale_update",
        `Cannot accept update: round ${metadata.round} is closed`,
      );
    }
    if (metadata.baseVersion !== this.#version) {
      throw new ApiError(
        409,
        "stale_update",
        `Cannot accept update: base version ${metadata.baseVersion} is not the current version ${this.#version}`,
      );
    }
    if (this.#pending.has(clientId)) {
      throw new ApiError(
        409,
        "duplicate_update",
        `Cannot accept update: client "${clientId}" already sent one for round ${this.#round}`,
      );
    }
    return 0;
  }

  /** Async: the update's base is a version this coordinator issued, at most maxStaleness old. */
  #checkAsync(metadata: UpdateMetadata): number {
    if (this.#phase !== "training") {
      throw new ApiError(
        409,
        "stale_update",
        `Cannot accept update: the coordinator is ${this.#phase}`,
      );
    }
    if (metadata.baseVersion > this.#version) {
      throw new ApiError(
        400,
        "invalid_update",
        `Cannot accept update: base version ${metadata.baseVersion} has not been issued (current ${this.#version})`,
      );
    }
    const staleness = this.#version - metadata.baseVersion;
    const { maxStaleness } = this.task.rounds;
    if (staleness > maxStaleness) {
      throw new ApiError(
        409,
        "stale_update",
        `Cannot accept update: base version ${metadata.baseVersion} is ${staleness} versions behind the current version ${this.#version} (maxStaleness ${maxStaleness})`,
      );
    }
    return staleness;
  }

  /** What an update is checked against: the norm bound and the task's codec. */
  get #validation(): {
    maxNorm: number | null;
    overNorm: "reject" | "clip";
    maxExamples: number;
    codec: UpdateCodec["kind"];
  } {
    return { ...this.task.updates, codec: this.task.codec.kind };
  }

  get #async(): boolean {
    return this.task.rounds.mode === "async";
  }

  /** GET /v1/status. */
  status(): Status {
    return {
      taskId: this.task.id,
      round: this.#round,
      version: this.#version,
      phase: this.#phase,
      totalRounds: this.task.rounds.total,
      received: this.#secure ? this.#secure.progress : this.#pending.size,
      targetClients: this.task.rounds.targetClients,
      strategy: this.#strategy.name,
      mode: this.task.rounds.mode,
      clients: [...this.#clients.values()].map((c) => ({
        id: c.id,
        lastSeen: c.lastSeen.toISOString(),
        updatesAccepted: c.updatesAccepted,
        backend: c.backend,
        device: c.device,
        runtime: c.runtime,
        updatesRejected: c.updatesRejected,
        lastRejection: c.lastRejection,
        numLabeled: c.numLabeled,
        numUnlabeled: c.numUnlabeled,
        devices: c.devices,
      })),
      history: [...this.#history],
      finalModel: this.#finalModel,
      deadline: this.#phase === "training" && this.#deadlineAt !== null && !this.#deadlinePassed
        ? new Date(this.#deadlineAt).toISOString()
        : null,
      ...(this.#secure ? { secureStage: this.#secure.stage } : {}),
      ...(this.#privacy
        ? {
          privacy: privacyStatus(this.#privacy, this.#history, {
            finished: this.#phase === "finished",
            totalRounds: this.task.rounds.total,
          }),
        }
        : {}),
    };
  }

  /** Pauses the open round: updates are refused (409) and the deadline stops until {@linkcode resume}. */
  pause(): void {
    if (this.#phase === "paused") return;
    if (this.#phase !== "training") {
      throw new ApiError(
        409,
        "invalid_phase",
        `Cannot pause task "${this.task.id}": it is ${this.#phase}`,
      );
    }
    this.#options.storage?.savePhase("paused");
    clearTimeout(this.#timer);
    this.#deadlineAt = null;
    this.#phase = "paused";
  }

  /** Resumes a paused round with a fresh deadline. */
  resume(): void {
    if (this.#phase !== "paused") {
      throw new ApiError(
        409,
        "invalid_phase",
        `Cannot resume task "${this.task.id}": it is ${this.#phase}`,
      );
    }
    this.#options.storage?.savePhase("training");
    this.#phase = "training";
    if (this.#started) this.#armDeadline();
    this.#maybeClose();
  }

  /**
   * Stops the run after any round being closed: the open round's updates are
   * dropped, the final model is exported, and `finished` resolves.
   */
  async stop(): Promise<void> {
    await this.settled();
    if (this.#phase === "finished" || this.#phase === "stopped") return;
    this.#options.storage?.savePhase("stopped", { dropPending: true });
    clearTimeout(this.#timer);
    this.#secure?.close();
    this.#options.storage?.prune();
    this.#phase = "stopped";
    this.#pending.clear();
    await this.#exportFinal();
    this.#finished.resolve();
  }

  /** Waits for a round being closed, if any; for tests and shutdown. */
  async settled(): Promise<void> {
    while (this.#closing) await this.#closing;
  }

  /** Stops the deadline timer. */
  close(): void {
    clearTimeout(this.#timer);
    this.#secure?.close();
    this.#options.storage?.close();
    this.#evaluator?.dispose();
    this.#evaluator = null;
    this.#serverTrainer?.dispose();
    this.#serverTrainer = null;
  }

  /**
   * Keeps an accepted update in the open round. For strategies that are sums
   * it is folded into the running sum at once and its tensors are let go, so
   * memory does not grow with the number of clients.
   */
  #hold(key: string, pending: PendingUpdate): void {
    if (this.#sum && this.#privacy) {
      // DP-FedAvg: each update clipped to the bound, all weighted alike.
      this.#fold(pending.update, 1, clipFactor(pending.update.norm, this.#clip));
      if (pending.update.norm <= this.#clip) this.#within++;
      pending = { ...pending, update: { ...pending.update, tensors: [] } };
    } else if (this.#sum) {
      const { numLabeled, numUnlabeled } = pending.update.metadata;
      this.#fold(
        pending.update,
        clientWeight({ numLabeled, numUnlabeled }, this.task.aggregation.unlabeledWeight),
        this.#async ? stalenessWeight(pending.staleness, this.task.rounds.staleness) : 1,
      );
      pending = { ...pending, update: { ...pending.update, tensors: [] } };
    }
    this.#pending.set(key, pending);
  }

  /** Folds an update into the round's sum: its tensors, or read back piece by piece from its record. */
  #fold(update: PendingUpdate["update"], weight: number, scale: number): void {
    const spooled = update.spooled;
    if (spooled && this.#options.storage) {
      // Folded with the rest of its group commit's batch, once the batch's
      // transaction is over (or before the sum is read, whichever is first).
      this.#unfolded.push({ sum: this.#sum!, spooled, weight, scale: scale * spooled.factor });
      if (this.#unfolded.length === 1) queueMicrotask(() => this.#foldUnfolded());
    } else this.#sum!.add(update.tensors, weight, scale);
  }

  /**
   * Folds the streamed updates admitted since the last call, all at once
   * (RunningSum.addMany: the same sums, bit for bit, as one by one in their
   * order); each into the sum of the round it was admitted to.
   */
  #foldUnfolded(): void {
    const batch = this.#unfolded.splice(0);
    const storage = this.#options.storage;
    if (batch.length === 0 || !storage) return;
    while (this.#readBuffers.length < batch.length) {
      this.#readBuffers.push(new Uint8Array(BATCH_READ_PIECE));
    }
    for (const sum of new Set(batch.map((b) => b.sum))) {
      const mine = batch.filter((b) => b.sum === sum);
      sum.addMany(mine.map((b, j) => ({
        pieces: storage.pieces(b.spooled.ref, b.spooled.regions, this.#readBuffers[j]!),
        weight: b.weight,
        scale: b.scale,
      })));
    }
  }

  /** Opens the round `this.#round`; a secure round replays its recorded `secureEvents`. */
  #open(secureEvents: SecureEvent[] = []): void {
    this.#sum = this.#strategy.needsAllUpdates || !this.#strategy.aggregateMean ||
        this.#secureParams
      ? null
      : new RunningSum(this.trainable.map((w) => w.shape.reduce((a, b) => a * b, 1)));
    this.#secure?.close();
    this.#secureOutcome = null;
    this.#within = 0;
    this.#secure = this.#secureParams ? this.#secureRound(secureEvents) : null;
    this.#phase = "training";
    this.#openedAt = performance.now();
    this.#deadlinePassed = false;
    this.#deadlineAt = null;
    this.#pending.clear();
    this.#participants.clear();
    this.#failed.clear();
    if (this.#started) this.#armDeadline();
  }

  #armDeadline(): void {
    clearTimeout(this.#timer);
    this.#deadlineAt = Date.now() + this.task.rounds.timeoutSeconds * 1000;
    this.#timer = setTimeout(() => {
      this.#deadlinePassed = true;
      this.#maybeClose();
    }, this.task.rounds.timeoutSeconds * 1000);
  }

  #maybeClose(): void {
    if (this.#phase !== "training") return;
    if (this.#secure) {
      // A secure round closes when its protocol ends (SecureRound's onDone).
      if (this.#secureOutcome) this.#closeSecure(this.#secureOutcome);
      else if (this.#deadlinePassed) this.#secure.deadlinePassed();
      else this.#secure.recheck();
      return;
    }
    const { targetClients, minClients, bufferSize } = this.task.rounds;
    const count = this.#pending.size;
    const target = this.#async ? bufferSize : targetClients;
    const drawnIn = this.#privacy !== null && this.#allDrawnAnswered(new Set(this.#pending.keys()));
    if (count >= target || (this.#deadlinePassed && count >= minClients) || drawnIn) {
      clearTimeout(this.#timer);
      this.#phase = "aggregating";
      this.#closing = this.#closeRound().finally(() => (this.#closing = null));
    }
  }

  /** The open round's failures: reported ones, then participants without an update. */
  #failures(): ClientFailure[] {
    const failures = [...this.#failed].map(([clientId, reason]) => ({ clientId, reason }));
    for (const clientId of this.#participants) {
      // Async clients train across buffers: only reported failures count.
      if (this.#async) break;
      if (this.#secure) {
        if (!this.#secure.hasInput(clientId) && !this.#failed.has(clientId)) {
          failures.push({ clientId, reason: this.#secure.dropReason(clientId) });
        }
      } else if (!this.#pending.has(clientId) && !this.#failed.has(clientId)) {
        failures.push({ clientId, reason: "no update before the round closed" });
      }
    }
    return failures;
  }

  /** Closes a secure round with its protocol's outcome (kept, so that a failed close is retried). */
  #closeSecure(outcome: SecureOutcome): void {
    this.#secureOutcome = outcome;
    if (this.#phase !== "training") return;
    clearTimeout(this.#timer);
    this.#phase = "aggregating";
    this.#closing = this.#closeRound(outcome).finally(() => (this.#closing = null));
  }

  /** The open round's secure protocol, new or restored from its recorded events. */
  #secureRound(events: SecureEvent[]): SecureRound {
    const params = this.#secureParams!;
    const round = this.#round;
    return SecureRound.create({
      round,
      params,
      graphSeed: graphSeed(this.task.id, round),
      inputLength: inputLength(this.trainable),
      target: this.task.rounds.targetClients,
      quorum: Math.max(this.task.rounds.minClients, params.threshold),
      complete: this.#privacy ? (advertised) => this.#allDrawnAnswered(advertised) : undefined,
      record: (event) => this.#options.storage?.saveSecureEvent(round, event),
      onDone: (outcome) => {
        if (this.#round === round && this.#secure) this.#closeSecure(outcome);
      },
      onError: (error) => (this.#options.onError ?? console.error)(error),
    }, events);
  }

  async #closeRound(secure?: SecureOutcome): Promise<void> {
    // In client order, not arrival order: float sums depend on their order,
    // and this keeps a round's result the same however the updates raced in.
    const pending = [...this.#pending.values()].sort((a, b) =>
      a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0
    );
    const updates = pending.map((p) => p.update);
    const failures = this.#failures();
    const decoded = secure?.kind === "sum"
      ? secureMean(secure.sum, secure.survivors.length, this.trainable, this.#secureParams!)
      : null;
    const summary: RoundSummary = decoded && secure?.kind === "sum"
      ? {
        clients: secure.survivors.length,
        numLabeled: decoded.numLabeled,
        numUnlabeled: decoded.numUnlabeled,
        bytesReceived: secure.survivors.length * inputLength(this.trainable) * 4,
        evaluations: [],
      }
      : summarize(updates);
    this.#foldUnfolded();
    let next = this.#global;
    let metrics: RoundMetrics;
    let closing = { last: false, round: this.#round + 1, version: this.#version + 1 };
    // The server optimiser's state before this close, to go back to if it fails.
    const strategyBefore = this.#strategy.saveState();
    try {
      const aggregationStart = performance.now();
      const outcome = secure?.kind === "failed"
        ? { step: null, keptBecause: `secure aggregation failed: ${secure.reason}`, used: [] }
        : secure?.kind === "sum"
        ? this.#strategy.aggregateMean!({
          round: this.#round,
          // Distributed DP: the noised sum over the fixed denominator.
          mean: this.#privacy && decoded!.meanOrNull
            ? decoded!.meanOrNull.map((t) =>
              t.map((v) => (v * secure.survivors.length) / this.#privacy!.expectedClients)
            )
            : decoded!.meanOrNull,
          used: secure.survivors,
          failures,
        })
        : this.#sum && this.#strategy.aggregateMean
        ? this.#strategy.aggregateMean({
          round: this.#round,
          mean: this.#privacy ? this.#centralNoisedMean() : this.#sum.mean(),
          used: pending.map((p) => p.clientId),
          failures,
        })
        : this.#strategy.aggregate({
          round: this.#round,
          results: pending.map(({ clientId, update: u, staleness }) => ({
            clientId,
            tensors: u.tensors,
            numLabeled: u.metadata.numLabeled,
            numUnlabeled: u.metadata.numUnlabeled,
            ...(this.#async
              ? { scale: stalenessWeight(staleness, this.task.rounds.staleness) }
              : {}),
          })),
          failures,
        });
      let nextRound = this.#round + 1;
      let nextVersion = this.#version + 1;
      let finishing = this.#round >= this.task.rounds.total;
      const privacy = this.#privacy
        ? privacyAfterRound(this.#privacy, this.#history, {
          clip: this.#clip,
          within: this.#within,
        })
        : null;
      // The budget: the run ends before a round that would exceed it.
      if (privacy?.exhausted) finishing = true;
      if (this.#options.relay && outcome.step) {
        // Edge: the combined update goes upstream; the cloud's next global comes back.
        const step = outcome.step;
        const upstream = await this.#options.relay.forward({
          round: this.#round,
          baseVersion: this.#version,
          delta: new Map(
            this.trainable.map((w, i) => [w.name, { shape: w.shape, data: step[i]! }]),
          ),
          numLabeled: summary.numLabeled,
          numUnlabeled: summary.numUnlabeled,
          devices: summary.clients,
        });
        next = new Map(this.weights.map((w) => [w.name, upstream.global.get(w.name)!]));
        nextRound = upstream.round;
        nextVersion = upstream.version;
        finishing = upstream.finished;
      } else if (outcome.step) next = applyDelta(this.#global, this.trainable, outcome.step);
      const aggregationSeconds = (performance.now() - aggregationStart) / 1000;
      writeWeights(this.#model, next);
      if (this.#serverTrainer && this.task.serverTraining) {
        await this.#serverTrainer.train(this.task.serverTraining, { round: this.#round });
        next = new Map([...next, ...readWeights(this.#model, { trainableOnly: true })]);
      }
      metrics = {
        ...await this.#measure(this.#round, summary, nextVersion, this.#openedAt, next),
        failures,
        keptBecause: outcome.keptBecause,
        updates: secure?.kind === "sum"
          ? secure.survivors.map((clientId) => ({ clientId, staleness: 0, weight: 1 }))
          : pending.map((p) => ({
            clientId: p.clientId,
            staleness: p.staleness,
            weight: this.#async ? stalenessWeight(p.staleness, this.task.rounds.staleness) : 1,
            norm: p.update.norm,
          })),
        aggregationSeconds,
        ...(privacy ? { privacy: privacy.metrics } : {}),
        ...(secure
          ? {
            secureAggregation: {
              advertised: secure.advertised,
              survivors: secure.kind === "sum" ? secure.survivors.length : 0,
              dropped: secure.kind === "sum" ? secure.dropped.length : 0,
              unmaskSeconds: secure.kind === "sum" ? secure.unmaskSeconds : 0,
            },
          }
          : {}),
      };
      const last = finishing;
      closing = { last, round: nextRound, version: nextVersion };
      maybeCrash("COMMIT");
      this.#options.storage?.commitRound({
        round: last ? this.#round : nextRound,
        version: nextVersion,
        phase: last ? "finished" : "training",
        global: encodeSafetensors(next),
        strategy: encodeStrategyState(this.#strategy.saveState()),
        metrics,
        clients: [...this.#clients.values()].map(storedClient),
      });
    } catch (error) {
      // Nothing is committed: the model and the optimiser go back to where
      // they were and the round stays open with its updates; closing is tried again.
      writeWeights(this.#model, this.#global);
      this.#strategy.loadState(strategyBefore);
      (this.#options.onError ?? console.error)(error);
      this.#phase = "training";
      this.#deadlinePassed = true;
      this.#timer = setTimeout(() => this.#maybeClose(), RETRY_CLOSE_MS);
      return;
    }
    this.#global = next;
    this.#version = closing.version;
    // The round's updates are in the global now: their spool segments go.
    this.#options.storage?.prune();
    if (metrics.privacy) this.#clip = metrics.privacy.nextClip;
    if (secure?.kind === "sum") {
      for (const id of secure.survivors) {
        const client = this.#clients.get(id);
        if (client) client.updatesAccepted++;
      }
    }
    if (this.#secure) this.#lastSecure = { round: this.#round, secure: this.#secure };
    this.#history.push(metrics);
    this.#options.onRound?.(metrics);
    if (closing.last) {
      this.#phase = "finished";
      this.#pending.clear();
      clearTimeout(this.#timer);
      try {
        await this.#exportFinal();
      } catch (error) {
        (this.#options.onError ?? console.error)(error);
      }
      this.#finished.resolve();
    } else {
      this.#round = closing.round;
      this.#open();
    }
  }

  /**
   * Poisson-sampled rounds: whether the whole population (privacy.population)
   * has shown up and every client drawn for the open round has answered (is
   * in `answered`, or reported a failure), at least one drawn. Such a round
   * closes without waiting for targetClients or the deadline.
   */
  #allDrawnAnswered(answered: ReadonlySet<string>): boolean {
    // Only once the whole population is known: a client not yet seen may be drawn.
    if (!this.#privacy || !this.#started || this.#clients.size < this.#privacy.population) {
      return false;
    }
    let drawn = 0;
    for (const clientId of this.#clients.keys()) {
      const isIn = isDrawn(this.#samplingSecret, {
        taskId: this.task.id,
        clientId,
        round: this.#round,
        sampleRate: this.#privacy.sampleRate,
      });
      if (!isIn) continue;
      drawn++;
      if (!answered.has(clientId) && !this.#failed.has(clientId)) return false;
    }
    return drawn > 0;
  }

  /** Central DP: the clipped sum plus Gaussian noise of z x C, over the fixed denominator. */
  #centralNoisedMean(): Float32Array[] | null {
    const p = this.#privacy!;
    if (!this.#sum || this.#sum.count === 0) return null;
    const z = p.adaptive?.updateNoiseMultiplier ?? p.noiseMultiplier;
    return noisedMean(this.#sum.sums(), {
      noiseStd: z * this.#clip,
      denominator: p.expectedClients,
    });
  }

  /** Writes the global model as `final/` (tfjs and model.safetensors) under the run dir. */
  async #exportFinal(): Promise<void> {
    if (!this.#options.runDir) return;
    const global = this.globalModel();
    const modelJson = await writeCheckpoint(join(this.#options.runDir, "final"), {
      artifacts: global.tfjs,
      extra: { "model.safetensors": global.safetensors },
    });
    await exportAdapters(this.#options.runDir, {
      taskId: this.task.id,
      topology: this.task.model.topology,
      weights: this.#global,
    });
    this.#finalModel = modelJson;
  }

  async #measure(
    round: number,
    summary: RoundSummary,
    version: number,
    openedAt: number,
    weights: Map<string, Float32Tensor>,
  ): Promise<RoundMetrics> {
    const evaluationStart = performance.now();
    const evaluation = this.#evaluator?.evaluate(this.#model) ?? null;
    const evaluationSeconds = (performance.now() - evaluationStart) / 1000;
    const checkpoint = this.#options.runDir
      ? await writeCheckpoint(
        join(this.#options.runDir, `round-${String(round).padStart(4, "0")}`),
        {
          artifacts: toTfjsArtifacts(this.task.model.topology, weights),
        },
      )
      : null;
    return {
      round,
      version,
      clients: summary.clients,
      numLabeled: summary.numLabeled,
      numUnlabeled: summary.numUnlabeled,
      accuracy: evaluation?.accuracy ?? null,
      loss: evaluation?.loss ?? null,
      seconds: (performance.now() - openedAt) / 1000,
      bytesReceived: summary.bytesReceived,
      checkpoint,
      strategy: this.#strategy.name,
      failures: [],
      keptBecause: null,
      mode: this.task.rounds.mode,
      federated: this.#strategy.aggregateEvaluation(summary.evaluations),
      updates: [],
      ...(this.#evaluator ? { evaluationSeconds } : {}),
    };
  }
}
