/**
 * A task's storage in a run folder ({@linkcode TaskStorage}): its metadata
 * as rows of the run's state.db (state_store.ts), the bytes of accepted
 * updates in a spool folder of its own (spool.ts, group commit), a batch's
 * rows written in one transaction once its bytes are synced.
 * @module
 */
import { createHash } from "node:crypto";
import type { SecureEvent } from "../secure/secure_round.ts";
import type { Phase } from "../../shared/schemas/mod.ts";
import { Spool } from "./spool.ts";
import type { StateStore, TaskStore } from "./state_store.ts";
import type {
  ByteRange,
  BytesRef,
  InitialState,
  RoundCommit,
  StoredClient,
  StoredTask,
  StoredUpdate,
  TaskStorage,
  UpdateRecord,
} from "./storage.ts";

/** Options of {@linkcode RunStorage.open}. */
export interface RunStorageOptions {
  /** The run's state (shared by its tasks; its owner closes it). */
  state: StateStore;
  /** The folder of the task's spool. */
  dir: string;
  /** The task's id, and its config serialised (a saved task with another is refused). */
  taskId: string;
  config: string;
}

/**
 * {@linkcode TaskStorage} over a run folder.
 *
 * @example
 * ```ts
 * import { RunStorage } from "./run_storage.ts";
 * import { StateStore } from "./state_store.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const state = StateStore.open(dir);
 * const storage = await RunStorage.open({ state, dir: `${dir}/spool`, taskId: "a", config: "{}" });
 * assert.equal(storage.load(), null);
 * storage.close();
 * state.close();
 * ```
 */
export class RunStorage implements TaskStorage {
  readonly #rows: TaskStore;
  /** The spool, for benchmarks (batches and records written). */
  readonly spool: Spool;

  private constructor(rows: TaskStore, spool: Spool) {
    this.#rows = rows;
    this.spool = spool;
  }

  /** Opens (or creates) a task's storage. */
  static async open(options: RunStorageOptions): Promise<RunStorage> {
    const rows = options.state.task(options.taskId, options.config);
    const spool = await Spool.open(options.dir, {
      transaction: (commits) => rows.transaction(commits),
    });
    return new RunStorage(rows, spool);
  }

  /** {@inheritDoc TaskStorage.load} */
  load(): StoredTask | null {
    return this.#rows.load();
  }

  /** {@inheritDoc TaskStorage.saveInitial} */
  saveInitial(
    state: InitialState,
    source?: string,
  ): void {
    this.#rows.saveInitial(state, source);
  }

  /** {@inheritDoc TaskStorage.saveClient} */
  saveClient(client: StoredClient): void {
    this.#rows.saveClient(client);
  }

  /** {@inheritDoc TaskStorage.secret} */
  secret(name: string): Uint8Array {
    return this.#rows.secret(name);
  }

  /** {@inheritDoc TaskStorage.saveSecureEvent} */
  saveSecureEvent(round: number, event: SecureEvent): void {
    this.#rows.saveSecureEvent(round, event);
  }

  /** {@inheritDoc TaskStorage.savePhase} */
  savePhase(phase: Phase, options?: { dropPending?: boolean }): void {
    this.#rows.savePhase(phase, options);
  }

  /** {@inheritDoc TaskStorage.commitRound} */
  commitRound(commit: RoundCommit): void {
    this.#rows.commitRound(commit);
  }

  /** {@inheritDoc TaskStorage.saveUpdate} */
  saveUpdate(
    update: StoredUpdate,
    answer: { digest: string; response: string },
    client: StoredClient,
  ): void {
    this.#rows.saveUpdate(update, answer, client);
  }

  /** {@inheritDoc TaskStorage.append} */
  append<T>(bytes: Uint8Array, commit: (ref: BytesRef) => T): Promise<T> {
    return this.spool.append(bytes, commit);
  }

  /** {@inheritDoc TaskStorage.record} */
  record(): UpdateRecord {
    return this.spool.record();
  }

  /** {@inheritDoc TaskStorage.bytesOf} */
  bytesOf(update: StoredUpdate): Uint8Array {
    if (!update.spool) return update.bytes;
    const bytes = this.spool.read(update.spool);
    if (createHash("sha256").update(bytes).digest("hex") !== update.spool.sha256) {
      throw new Error(
        `its bytes in spool segment "${update.spool.file}" do not match their SHA-256`,
      );
    }
    return bytes;
  }

  /** {@inheritDoc TaskStorage.pieces} */
  pieces(
    ref: BytesRef,
    ranges: readonly ByteRange[],
    buffer: Uint8Array,
  ): Iterable<{ tensor: number; start: number; bytes: Uint8Array }> {
    return this.spool.pieces(ref, ranges, buffer);
  }

  /** {@inheritDoc TaskStorage.prune} */
  prune(keep: readonly StoredUpdate[] = []): void {
    this.spool.prune(new Set(keep.flatMap((u) => (u.spool ? [u.spool.file] : []))));
  }

  /** {@inheritDoc TaskStorage.close} */
  close(): void {
    this.spool.close();
  }
}
