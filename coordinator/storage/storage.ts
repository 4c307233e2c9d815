/**
 * Where a task's durable state is kept, behind one small interface: its
 * round, global, history, clients and secrets (metadata), and the bytes of
 * the updates accepted in the open round, stored with group commit. The
 * federation (and so an edge, which runs one per task) calls only this and
 * knows neither SQLite nor files; run_storage.ts keeps it in a run folder
 * (state.db for the metadata, the spool for the bytes).
 *
 * Every write is durable before it returns (or, for
 * {@linkcode TaskStorage.append} and {@linkcode UpdateRecord.commit}, before
 * the promise resolves): a caller may answer once it has.
 * @module
 */
import type { SecureEvent } from "../secure/secure_round.ts";
import type { Phase, RoundMetrics } from "../../shared/schemas/mod.ts";

/** Where stored bytes are, as the storage hands it out (opaque to its callers). */
export interface BytesRef {
  /** The file (segment or record) that holds them. */
  file: string;
  offset: number;
  length: number;
}

/** A state folder that cannot be used: foreign, corrupt or from another version. */
export class StateError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "StateError";
  }
}

/** A client as the coordinator remembers it. */
export interface StoredClient {
  id: string;
  lastSeen: string;
  updatesAccepted: number;
  backend: string | null;
  /** Absent in state saved before devices were recorded. */
  device?: string | null;
  runtime?: string | null;
  numLabeled?: number | null;
  numUnlabeled?: number | null;
  devices?: number | null;
}

/** An accepted update of the open round (or async buffer). */
export interface StoredUpdate {
  /** The client id (sync) or client id and arrival number (async). */
  key: string;
  clientId: string;
  staleness: number;
  /** The update's bytes, kept with its metadata; or empty, with `spool`. */
  bytes: Uint8Array;
  /** Where the storage keeps the bytes (as {@linkcode TaskStorage.append} gave it), with their SHA-256 (hex). */
  spool?: BytesRef & { sha256: string };
}

/** A task's saved state. */
export interface StoredTask {
  round: number;
  version: number;
  phase: Phase;
  /** The global weights (all of them) as safetensors. */
  global: Uint8Array;
  /** The strategy's server state as safetensors, or null. */
  strategy: Uint8Array | null;
  history: RoundMetrics[];
  clients: StoredClient[];
  pending: StoredUpdate[];
  /** The answer given to each accepted update, by `clientId:digest`. */
  answers: Map<string, string>;
  /** The open round's secure-aggregation events, in order (none for a plain task). */
  secure: SecureEvent[];
}

/** A new task's first state (round 0's metrics included). */
export interface InitialState {
  round: number;
  version: number;
  phase: Phase;
  global: Uint8Array;
  metrics: RoundMetrics[];
}

/** What a round's close commits at once. */
export interface RoundCommit {
  round: number;
  version: number;
  phase: Phase;
  global: Uint8Array;
  /** The strategy's server state after the round, as safetensors. */
  strategy: Uint8Array;
  metrics: RoundMetrics;
  clients: StoredClient[];
}

/**
 * An update's bytes written as they stream in ({@linkcode TaskStorage.record}):
 * {@linkcode UpdateRecord.write} each chunk (false: wait for
 * {@linkcode UpdateRecord.drained}), then {@linkcode UpdateRecord.commit} or
 * {@linkcode UpdateRecord.abort}.
 */
export interface UpdateRecord {
  /** Takes a chunk; false when the caller should wait for {@linkcode UpdateRecord.drained}. */
  write(chunk: Uint8Array): boolean;
  /** Resolves when more chunks may be written. */
  drained(): Promise<void>;
  /**
   * Makes the record durable with the next group commit, then runs `commit`
   * with where it is (in the batch's transaction); resolves with what
   * `commit` returns.
   */
  commit<T>(commit: (ref: BytesRef) => T): Promise<T>;
  /** Drops the record (refused, a resend, or cut off); calling it twice is harmless. */
  abort(): void;
}

/** A byte range of a stored update, tagged with the tensor it belongs to. */
export interface ByteRange {
  tensor: number;
  begin: number;
  end: number;
}

/**
 * One task's durable storage. Implemented by `RunStorage` (run_storage.ts);
 * without one, a federation keeps its state in memory only.
 *
 * @example
 * ```ts
 * import type { TaskStorage } from "./storage.ts";
 * import { RunStorage } from "./run_storage.ts";
 * import { StateStore } from "./state_store.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const state = StateStore.open(dir);
 * const storage: TaskStorage = await RunStorage.open({ state, dir, taskId: "a", config: "{}" });
 * const ref = await storage.append(Uint8Array.of(1, 2, 3), (ref) => ref);
 * assert.equal(ref.length, 3);
 * storage.close();
 * state.close();
 * ```
 */
export interface TaskStorage {
  /** The saved state, or null for a task never saved; {@linkcode StateError} when it was saved with another config. */
  load(): StoredTask | null;
  /** Saves a new task's first state (`source`: the task file it was added with over HTTP). */
  saveInitial(
    state: InitialState,
    source?: string,
  ): void;
  /** Saves a client record (first seen, or seen again). */
  saveClient(client: StoredClient): void;
  /** The task's secret `name`: 32 random bytes, made and kept the first time it is asked for. */
  secret(name: string): Uint8Array;
  /** Stores one event of round `round`'s secure protocol, before it is applied. */
  saveSecureEvent(round: number, event: SecureEvent): void;
  /** Saves a phase change; `dropPending` clears the open round. */
  savePhase(phase: Phase, options?: { dropPending?: boolean }): void;
  /** Closes a round at once: the new global and phase, its metrics, clients, the open round cleared. */
  commitRound(commit: RoundCommit): void;
  /**
   * Stores an accepted update (its bytes with it, or at `update.spool`), the
   * answer given and its client, together; inside a `commit` callback it
   * joins that batch's transaction.
   */
  saveUpdate(
    update: StoredUpdate,
    answer: { digest: string; response: string },
    client: StoredClient,
  ): void;
  /**
   * Group commit: stores `bytes` durably with whatever else arrives while the
   * current batch is written, then runs `commit` with where they are, in the
   * batch's transaction. Rejects with what `commit` throws (the bytes are
   * then dropped with the next prune).
   */
  append<T>(bytes: Uint8Array, commit: (ref: BytesRef) => T): Promise<T>;
  /** A record to write an update's bytes into as they stream in. */
  record(): UpdateRecord;
  /**
   * The bytes of a stored update, checked against their SHA-256 (with them
   * or read back); throws when they are missing or do not match.
   */
  bytesOf(update: StoredUpdate): Uint8Array;
  /** A stored record read range by range, each piece into `buffer` (valid until the next). */
  pieces(
    ref: BytesRef,
    ranges: readonly ByteRange[],
    buffer: Uint8Array,
  ): Iterable<{ tensor: number; start: number; bytes: Uint8Array }>;
  /** Removes the bytes of every update but `keep` (those still pending). @default none kept */
  prune(keep?: readonly StoredUpdate[]): void;
  /** Closes the bytes' files; queued appends are refused. The metadata's owner closes it. */
  close(): void;
}
