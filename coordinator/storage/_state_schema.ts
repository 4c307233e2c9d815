/**
 * The SQLite state file's tables, its format stamp and schema version, and
 * transactions that nest (a savepoint inside another). Private to storage/.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { StateError } from "./storage.ts";

const FORMAT = "federated-rdrop-coordinator-state";
const SCHEMA_VERSION = "1";

export const SECRETS_TABLE =
  `CREATE TABLE IF NOT EXISTS secrets (task_id TEXT NOT NULL, name TEXT NOT NULL,
  value BLOB NOT NULL, PRIMARY KEY (task_id, name))`;

export const SECURE_EVENTS_TABLE =
  `CREATE TABLE IF NOT EXISTS secagg (seq INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL, round INTEGER NOT NULL, event TEXT NOT NULL, bytes BLOB)`;

/** Databases inside a transaction: an inner one is a savepoint of the outer (a spool batch's). */
const inTransaction = new WeakSet<DatabaseSync>();

/** Runs `fn` in a transaction (a savepoint inside another); undone if it throws. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  if (inTransaction.has(db)) {
    // Nested: a savepoint, so a failed inner write undoes only itself.
    db.exec("SAVEPOINT inner");
    try {
      const result = fn();
      db.exec("RELEASE inner");
      return result;
    } catch (error) {
      db.exec("ROLLBACK TO inner");
      db.exec("RELEASE inner");
      throw error;
    }
  }
  db.exec("BEGIN IMMEDIATE");
  inTransaction.add(db);
  try {
    const result = fn();
    inTransaction.delete(db);
    db.exec("COMMIT");
    return result;
  } catch (error) {
    inTransaction.delete(db);
    db.exec("ROLLBACK");
    throw error;
  }
}

/** Creates the tables of a new state file and stamps its format and schema. */
export function createSchema(db: DatabaseSync): void {
  transaction(db, () => {
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE tasks (id TEXT PRIMARY KEY, position INTEGER NOT NULL, config TEXT NOT NULL,
        source TEXT, round INTEGER NOT NULL, version INTEGER NOT NULL, phase TEXT NOT NULL,
        global BLOB NOT NULL, strategy BLOB);
      CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL,
        metrics TEXT NOT NULL);
      CREATE TABLE clients (task_id TEXT NOT NULL, id TEXT NOT NULL, position INTEGER NOT NULL,
        record TEXT NOT NULL, PRIMARY KEY (task_id, id));
      CREATE TABLE pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL,
        key TEXT NOT NULL, client_id TEXT NOT NULL, staleness INTEGER NOT NULL, bytes BLOB NOT NULL,
        UNIQUE (task_id, key));
      CREATE TABLE answers (task_id TEXT NOT NULL, client_id TEXT NOT NULL, digest TEXT NOT NULL,
        response TEXT NOT NULL, PRIMARY KEY (task_id, client_id, digest));
    `);
    const insert = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
    insert.run("format", FORMAT);
    insert.run("schema", SCHEMA_VERSION);
  });
}

/** Refuses a file that is not this coordinator's state, or of another schema. */
export function checkFormat(db: DatabaseSync, path: string): void {
  let rows: { key: string; value: string }[];
  try {
    rows = db.prepare("SELECT key, value FROM meta").all() as unknown as typeof rows;
  } catch (error) {
    throw new StateError(
      `Cannot use the state "${path}": ${
        error instanceof Error ? error.message : error
      } (not this coordinator's state, or damaged; it is left as it is)`,
    );
  }
  const meta = new Map(rows.map((r) => [r.key, r.value]));
  if (meta.get("format") !== FORMAT) {
    throw new StateError(
      `Cannot use the state "${path}": it is not this coordinator's state (it is left as it is)`,
    );
  }
  if (meta.get("schema") !== SCHEMA_VERSION) {
    throw new StateError(
      `Cannot use the state "${path}": schema ${meta.get("schema")} is not ${SCHEMA_VERSION}`,
    );
  }
}
