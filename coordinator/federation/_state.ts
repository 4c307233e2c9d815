/**
 * The federation's explicit state: everything the round protocol's stages
 * read and change, in one object. The stages are functions over it, one file
 * per concern in this folder; `Federation` (../federation.ts) holds one and
 * is the only caller.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { type Dataset, reshapeRows } from "../../shared/data/dataset.ts";
import { readWeights, type WeightSpec, weightSpecs } from "../../shared/model/model.ts";
import type { Float32Tensor } from "../../shared/wire/safetensors.ts";
import type {
  Phase,
  RoundMetrics,
  TaskConfig,
  UpdateAccepted,
  UpdateCodec,
  UpdateMetadata,
} from "../../shared/schemas/mod.ts";
import type { TfjsArtifacts } from "../../shared/model/tfjs_format.ts";
import type { SecureParams } from "../../shared/secagg/params.ts";
import { Evaluator } from "../../shared/model/evaluate.ts";
import { LocalTrainer } from "../../client/training/trainer.ts";
import { useWasmLayers } from "../../client/training/wasm_kernels.ts";
import { maskDataset, maskedTokensOf } from "../../shared/tokenizer/masking.ts";
import { createStrategy, type Strategy } from "../aggregate/strategy.ts";
import type { RunningSum } from "../aggregate/fold/running_sum.ts";
import type { BytesRef } from "../storage/storage.ts";
import type { TensorRegion } from "../ingest/update_stream.ts";
import type { ValidUpdate } from "../ingest/validate_update.ts";
import type { SecureOutcome, SecureRound } from "../secure/secure_round.ts";
import { checkStrategy, type ClientRecord } from "./_round/parts.ts";
import { checkSecureTask } from "../secure/secure_task.ts";
import { checkPrivacyTask, type PrivacyParams } from "../privacy/privacy_task.ts";
import type { FederationOptions } from "./options.ts";

/** An update that passed the open round's checks, not yet stored. */
export interface Checked {
  metadata: UpdateMetadata;
  clientId: string;
  digest: string;
  key: string;
  update: ValidUpdate & { spooled?: Omit<SpooledValues, "ref"> };
  staleness: number;
}

/** An update whose values are in a spool record, not in memory (streamed in). */
export interface SpooledValues {
  ref: BytesRef;
  regions: TensorRegion[];
  /** Its values' factor (below 1 when clipped to the norm bound). */
  factor: number;
}

/** An accepted update of the open round (or the async buffer). */
export interface PendingUpdate {
  clientId: string;
  update: ValidUpdate & { spooled?: SpooledValues };
  /** Versions between the update's base and the global it is applied to. */
  staleness: number;
}

/** The global model's encodings, for one round and version. */
export interface GlobalModel {
  round: number;
  version: number;
  safetensors: Uint8Array;
  tfjs: TfjsArtifacts;
}

/** What an update is checked against: the norm bound and the task's codec. */
export interface UpdateChecks {
  maxNorm: number | null;
  overNorm: "reject" | "clip";
  maxExamples: number;
  codec: UpdateCodec["kind"];
}

/**
 * One task's federation state. Its fields are the protocol's state, grouped
 * by the stage that owns them; the parameters checked at configuration
 * (strategy, secure aggregation, privacy) are read-only.
 */
export class FederationState {
  // The task and its configuration, checked once here.
  readonly task: TaskConfig;
  readonly options: FederationOptions;
  readonly weights: WeightSpec[];
  readonly trainable: WeightSpec[];
  readonly model: tf.LayersModel;
  readonly strategy: Strategy;
  /** Secure aggregation's parameters (null for a plain task). */
  readonly secureParams: SecureParams | null;
  /** Differential privacy's parameters (null without), and the secret of its sampling. */
  readonly privacy: PrivacyParams | null;
  readonly samplingSecret: Uint8Array;
  /** Resolves when the run is over (finished or stopped). */
  readonly finished = Promise.withResolvers<void>();
  /** What an update is checked against: the norm bound and the task's codec. */
  readonly validation: UpdateChecks;

  // The global model (_round/outputs.ts, _round/close.ts).
  global: Map<string, Float32Tensor>;
  round = 1;
  version = 0;
  history: RoundMetrics[] = [];
  cache: GlobalModel | null = null;
  finalModel: string | null = null;
  evaluator: Evaluator | null;
  serverTrainer: LocalTrainer | null;

  // The open round's lifecycle (_lifecycle.ts).
  phase: Phase = "training";
  openedAt = performance.now();
  deadlinePassed = false;
  /** When the open round's deadline passes (ms since the epoch), or null when none runs. */
  deadlineAt: number | null = null;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The close in progress, if any. */
  closing: Promise<void> | null = null;

  // Client records and participation (_clients.ts).
  clients = new Map<string, ClientRecord>();
  /** Clients that fetched the open round's model (with their id), and explicit failures. */
  participants = new Set<string>();
  failed = new Map<string, string>();

  // Admission (_admission.ts, _spooled_admission.ts).
  /** The open round's (or async buffer's) updates, by client (async: by client and arrival). */
  pending = new Map<string, PendingUpdate>();
  /** The answer given to each accepted update, by `clientId:sha256`, for idempotent resends. */
  answers = new Map<string, string>();
  /** Updates being stored (spool), by key: a resend of the same bytes waits for the same answer. */
  inFlight = new Map<string, { digest: string; promise: Promise<UpdateAccepted> }>();

  // The open round's sum (_round/sum.ts).
  /** The open round's running sum (strategies that are sums), or null. */
  sum: RunningSum | null = null;
  /** Streamed updates admitted but not yet folded, and the buffers they are read into. */
  unfolded: { sum: RunningSum; spooled: SpooledValues; weight: number; scale: number }[] = [];
  readBuffers: Uint8Array[] = [];

  // Secure aggregation (_secure_stages.ts).
  /** The open round's protocol. */
  secure: SecureRound | null = null;
  /** The secure round closed last, so its clients can learn how it ended. */
  lastSecure: { round: number; secure: SecureRound } | null = null;
  /** A secure round's outcome, kept until its close is committed (a failed close is retried). */
  secureOutcome: SecureOutcome | null = null;

  // Differential privacy.
  /** The L2 bound of the open round. */
  clip = 0;
  /** Central mode: the open round's updates within the bound (adaptive clipping). */
  within = 0;

  constructor(options: FederationOptions) {
    this.task = options.task;
    this.options = options;
    this.model = options.model;
    this.weights = weightSpecs(options.model);
    this.trainable = weightSpecs(options.model, { trainableOnly: true });
    this.global = readWeights(options.model);
    this.strategy = createStrategy(options.task.aggregation);
    checkStrategy(options.task, this.strategy);
    this.secureParams = checkSecureTask(options.task, this.strategy);
    this.privacy = checkPrivacyTask(options.task, this.strategy, this.secureParams);
    this.clip = this.privacy?.clip ?? 0;
    // A secret no client can predict; kept with the run so a restart draws the same.
    this.samplingSecret = options.storage?.secret("sampling") ??
      crypto.getRandomValues(new Uint8Array(32));
    // Rows are used in the task's shape (e.g. 784 values as [28, 28, 1]).
    const shaped = (data: Dataset): Dataset => reshapeRows(data, options.task.input.shape);
    // A masked language model is measured on its holdout masked once, the same every round.
    const masking = maskedTokensOf(options.task.input);
    const holdout = options.holdout && masking
      ? maskDataset(options.holdout, masking)
      : options.holdout;
    this.evaluator = holdout ? new Evaluator(shaped(holdout)) : null;
    // A transformer evaluates through the fused wasm kernels (no-op elsewhere).
    useWasmLayers(options.model);
    if (options.serverData && !options.task.serverTraining) {
      throw new TypeError(
        "Cannot fine-tune at the server: the task has no serverTraining settings",
      );
    }
    this.serverTrainer = options.serverData
      ? new LocalTrainer(options.model, shaped(options.serverData), {
        seed: options.task.model.seed,
        maskedTokens: masking,
      })
      : null;
    this.validation = { ...options.task.updates, codec: options.task.codec.kind };
  }

  /** Whether the task's rounds are an asynchronous buffer. */
  get async(): boolean {
    return this.task.rounds.mode === "async";
  }

  /** How many clients must have shown up before rounds start. */
  get minAvailable(): number {
    return this.task.rounds.minAvailable;
  }

  /** Whether enough clients have shown up for rounds to start (rounds.minAvailable). */
  get started(): boolean {
    return this.clients.size >= this.minAvailable;
  }
}
