/**
 * The coordinator's durable state in one SQLite file (`node:sqlite`): each
 * task's config, round, version, phase and global weights, its round history,
 * its clients, the updates accepted in the open round and the answers given to
 * them, and the clients' tokens (as hashes). Every write is a committed
 * transaction (WAL, synchronous FULL) before the caller answers.
 * @module
 */
import type { SecureEvent } from "../secure/secure_round.ts";
import {
  type InitialState,
  type RoundCommit,
  StateError,
  type StoredClient,
  type StoredTask,
  type StoredUpdate,
} from "./storage.ts";
import { decodeSecureEvent, encodeSecureEvent } from "./_secure_event_codec.ts";
import {
  checkFormat,
  createSchema,
  SECRETS_TABLE,
  SECURE_EVENTS_TABLE,
  transaction,
} from "./_state_schema.ts";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { join } from "node:path";
import type { Phase, RoundMetrics } from "../../shared/schemas/mod.ts";

/** The file in a run folder that holds the state. */
export const STATE_FILE = "state.db";

/**
 * The durable state of a run folder. Opening a folder that holds anything but
 * this coordinator's state (or a damaged state file) throws
 * {@linkcode StateError} and changes nothing.
 *
 * @example
 * ```ts
 * import { StateStore } from "./state_store.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const store = StateStore.open(dir);
 * store.task("a", "{}").saveInitial({ round: 1, version: 0, phase: "training", global: new Uint8Array(8), metrics: [] });
 * assert.equal(store.task("a", "{}").load()?.round, 1);
 * store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class StateStore {
  readonly #db: DatabaseSync;
  readonly path: string;

  private constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.path = path;
  }

  /**
   * Opens (or creates) the state of `dir`. A folder that exists with files in
   * it but no state file, or a state file that is not this coordinator's, is
   * refused.
   */
  static open(dir: string): StateStore {
    const path = join(dir, STATE_FILE);
    let exists = true;
    try {
      Deno.statSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      exists = false;
    }
    if (!exists) {
      Deno.mkdirSync(dir, { recursive: true });
      const entries = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
        !n.startsWith(".")
      );
      if (entries.length > 0) {
        throw new StateError(
          `Cannot use "${dir}" as a run folder: it holds ${
            entries.slice(0, 3).map((n) => `"${n}"`).join(", ")
          }${
            entries.length > 3 ? ", ..." : ""
          } but no ${STATE_FILE}; it is not this coordinator's state (choose an empty or new folder)`,
        );
      }
    }
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path);
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000");
    } catch (error) {
      throw new StateError(
        `Cannot open the state "${path}": ${
          error instanceof Error ? error.message : error
        } (a damaged or foreign file; it is left as it is)`,
      );
    }
    try {
      if (exists) checkFormat(db, path);
      else createSchema(db);
      // Secure rounds' events and secrets: added without a schema change, so older runs resume.
      db.exec(SECURE_EVENTS_TABLE);
      db.exec(SECRETS_TABLE);
      // Updates whose bytes are in the spool: where (added to older state files).
      const columns = db.prepare("PRAGMA table_info(pending)").all() as { name: string }[];
      if (!columns.some((c) => c.name === "spool")) {
        db.exec("ALTER TABLE pending ADD COLUMN spool TEXT");
      }
    } catch (error) {
      db.close();
      throw error;
    }
    return new StateStore(db, path);
  }

  /** The state of task `id`, whose config serialises to `config`. */
  task(id: string, config: string): TaskStore {
    return new TaskStore(this.#db, id, config);
  }

  /** Whether any task has saved state (a restart). */
  hasTasks(): boolean {
    return this.#db.prepare("SELECT 1 FROM tasks LIMIT 1").get() !== undefined;
  }

  /** Tasks added over HTTP, in order, as `{id, source}` (the request body, JSON). */
  addedTasks(): { id: string; source: string }[] {
    return this.#db.prepare(
      "SELECT id, source FROM tasks WHERE source IS NOT NULL ORDER BY position",
    ).all() as unknown as { id: string; source: string }[];
  }

  /** Runs `fn` in one transaction. */
  transaction<T>(fn: () => T): T {
    return transaction(this.#db, fn);
  }

  /** The database, for the tokens of {@linkcode import("../http/auth.ts").Auth}. */
  get db(): DatabaseSync {
    return this.#db;
  }

  /** Closes the file. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

/** One task's rows. */
export class TaskStore {
  readonly #db: DatabaseSync;
  readonly id: string;
  readonly #config: string;
  /**
   * Prepared statements, reused: a statement keeps its last bound values
   * (an update's bytes) until it is reused or collected, so one per query
   * keeps memory flat however many updates arrive.
   */
  readonly #statements = new Map<string, StatementSync>();

  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Use {@linkcode StateStore.task}. */
  constructor(db: DatabaseSync, id: string, config: string) {
    this.#db = db;
    this.id = id;
    this.#config = config;
  }

  /**
   * The saved state, or null for a task never saved. Throws
   * {@linkcode StateError} when the saved task had another config.
   */
  load(): StoredTask | null {
    const row = this.#prepare(
      "SELECT config, round, version, phase, global, strategy FROM tasks WHERE id = ?",
    ).get(this.id) as
      | {
        config: string;
        round: number;
        version: number;
        phase: Phase;
        global: Uint8Array;
        strategy: Uint8Array | null;
      }
      | undefined;
    if (!row) return null;
    if (row.config !== this.#config) {
      throw new StateError(
        `Cannot resume task "${this.id}": the saved state was made with other settings; start it with the same task and flags, or use a new run folder`,
      );
    }
    const history = this.#prepare(
      "SELECT metrics FROM history WHERE task_id = ? ORDER BY seq",
    ).all(this.id) as unknown as { metrics: string }[];
    const clients = this.#prepare(
      "SELECT record FROM clients WHERE task_id = ? ORDER BY position",
    ).all(this.id) as unknown as { record: string }[];
    const pending = this.#prepare(
      "SELECT key, client_id, staleness, bytes, spool FROM pending WHERE task_id = ? ORDER BY seq",
    ).all(this.id) as unknown as {
      key: string;
      client_id: string;
      staleness: number;
      bytes: Uint8Array;
      spool: string | null;
    }[];
    const answers = this.#prepare(
      "SELECT client_id, digest, response FROM answers WHERE task_id = ?",
    ).all(this.id) as unknown as { client_id: string; digest: string; response: string }[];
    const secure = this.#prepare(
      "SELECT event, bytes FROM secagg WHERE task_id = ? AND round = ? ORDER BY seq",
    ).all(this.id, row.round) as unknown as { event: string; bytes: Uint8Array | null }[];
    return {
      secure: secure.map((e) => decodeSecureEvent(e.event, e.bytes)),
      round: row.round,
      version: row.version,
      phase: row.phase,
      global: new Uint8Array(row.global),
      strategy: row.strategy ? new Uint8Array(row.strategy) : null,
      history: history.map((h) => JSON.parse(h.metrics)),
      clients: clients.map((c) => JSON.parse(c.record)),
      pending: pending.map((p) => ({
        key: p.key,
        clientId: p.client_id,
        staleness: p.staleness,
        bytes: new Uint8Array(p.bytes),
        ...(p.spool ? { spool: JSON.parse(p.spool) } : {}),
      })),
      answers: new Map(answers.map((a) => [`${a.client_id}:${a.digest}`, a.response])),
    };
  }

  /** Saves a new task's first state (round 0's metrics included). `source`: the HTTP body that created it. */
  saveInitial(
    state: InitialState,
    source?: string,
  ): void {
    transaction(this.#db, () => {
      const position = (this.#prepare("SELECT COUNT(*) AS n FROM tasks").get() as { n: number })
        .n;
      this.#prepare(
        "INSERT INTO tasks (id, position, config, source, round, version, phase, global) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ).run(
        this.id,
        position,
        this.#config,
        source ?? null,
        state.round,
        state.version,
        state.phase,
        state.global,
      );
      for (const metrics of state.metrics) this.#insertHistory(metrics);
    });
  }

  /** Stores an accepted update and the answer to it, with its client, in one transaction. */
  saveUpdate(
    update: StoredUpdate,
    answer: { digest: string; response: string },
    client: StoredClient,
  ): void {
    transaction(this.#db, () => {
      this.#prepare(
        "INSERT INTO pending (task_id, key, client_id, staleness, bytes, spool) VALUES (?, ?, ?, ?, ?, ?)",
      ).run(
        this.id,
        update.key,
        update.clientId,
        update.staleness,
        update.spool ? new Uint8Array(0) : update.bytes,
        update.spool ? JSON.stringify(update.spool) : null,
      );
      this.#prepare(
        "INSERT OR REPLACE INTO answers (task_id, client_id, digest, response) VALUES (?, ?, ?, ?)",
      ).run(this.id, update.clientId, answer.digest, answer.response);
      this.#saveClient(client);
    });
  }

  /**
   * The task's secret `name` (32 random bytes, made and stored the first time
   * it is asked for), e.g. the seed of differential privacy's sampling.
   */
  secret(name: string): Uint8Array {
    const row = this.#prepare("SELECT value FROM secrets WHERE task_id = ? AND name = ?").get(
      this.id,
      name,
    ) as { value: Uint8Array } | undefined;
    if (row) return new Uint8Array(row.value);
    const value = crypto.getRandomValues(new Uint8Array(32));
    this.#prepare("INSERT INTO secrets (task_id, name, value) VALUES (?, ?, ?)").run(
      this.id,
      name,
      value,
    );
    return value;
  }

  /** Stores one event of round `round`'s secure protocol, before it is applied. */
  saveSecureEvent(round: number, event: SecureEvent): void {
    const { json, bytes } = encodeSecureEvent(event);
    this.#prepare("INSERT INTO secagg (task_id, round, event, bytes) VALUES (?, ?, ?, ?)").run(
      this.id,
      round,
      json,
      bytes,
    );
  }

  /** Runs `fn` in one transaction (a spool batch's records); nested writes join it. */
  transaction<T>(fn: () => T): T {
    return transaction(this.#db, fn);
  }

  /** Saves a client record (first seen, or seen again). */
  saveClient(client: StoredClient): void {
    this.#saveClient(client);
  }

  /**
   * Closes a round in one transaction: the new global, round, version and
   * phase, the round's metrics, the clients, and the open round's updates
   * removed (they are now in the global).
   */
  commitRound(commit: RoundCommit): void {
    transaction(this.#db, () => {
      this.#prepare(
        "UPDATE tasks SET round = ?, version = ?, phase = ?, global = ?, strategy = ? WHERE id = ?",
      ).run(commit.round, commit.version, commit.phase, commit.global, commit.strategy, this.id);
      this.#insertHistory(commit.metrics);
      this.#prepare("DELETE FROM pending WHERE task_id = ?").run(this.id);
      this.#prepare("DELETE FROM secagg WHERE task_id = ?").run(this.id);
      for (const client of commit.clients) this.#saveClient(client);
    });
  }

  /** Saves a phase change (pause, resume, stop); `dropPending` clears the open round. */
  savePhase(phase: Phase, options: { dropPending?: boolean } = {}): void {
    transaction(this.#db, () => {
      this.#prepare("UPDATE tasks SET phase = ? WHERE id = ?").run(phase, this.id);
      if (options.dropPending) {
        this.#prepare("DELETE FROM pending WHERE task_id = ?").run(this.id);
        this.#prepare("DELETE FROM secagg WHERE task_id = ?").run(this.id);
      }
    });
  }

  #insertHistory(metrics: RoundMetrics): void {
    this.#prepare("INSERT INTO history (task_id, metrics) VALUES (?, ?)").run(
      this.id,
      JSON.stringify(metrics),
    );
  }

  #saveClient(client: StoredClient): void {
    this.#prepare(
      `INSERT INTO clients (task_id, id, position, record) VALUES (?, ?, (SELECT COUNT(*) FROM clients WHERE task_id = ?), ?)
       ON CONFLICT (task_id, id) DO UPDATE SET record = excluded.record`,
    ).run(this.id, client.id, this.id, JSON.stringify(client));
  }
}
