/**
 * Who may call what: an admin token, enrolment tokens, and one bearer token
 * per client, all stored only as SHA-256 hashes.
 * @module
 */
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { ApiError } from "./errors.ts";

/** Who a request comes from. */
export type Principal = { role: "admin" } | { role: "client"; clientId: string } | {
  role: "open";
};

/** Options of {@linkcode Auth.create}. */
export interface AuthOptions {
  /** The state file's database, so tokens survive restarts. @default an in-memory database */
  db?: DatabaseSync;
  /** The admin token; replaces a saved one. @default the saved one, or a new one */
  adminToken?: string;
  /** A standing enrolment token (e.g. from the environment); saved beside others. @default none */
  enrolmentToken?: string;
}

/** A client's entry, as the admin lists them. */
export interface EnrolledClient {
  clientId: string;
  created: string;
  revoked: boolean;
}

/** Client ids: letters, digits, `.`, `_`, `-`, 1 to 64 of them. */
const CLIENT_ID = /^[A-Za-z0-9._-]{1,64}$/;

function hash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** A new random token with a readable prefix. */
function newToken(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `${prefix}_${
    btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, (c) =>
      c === "+" ? "-" : c === "/" ? "_" : "")
  }`;
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, "unauthorized", message);
}

/**
 * Token checks. `Auth.open()` lets everyone in (the explicit `--insecure`
 * mode); `Auth.create()` requires tokens.
 *
 * @example
 * ```ts
 * import { Auth } from "./auth.ts";
 * import assert from "node:assert/strict";
 * const { auth, adminToken } = Auth.create({ adminToken: "secret-admin-token" });
 * assert.equal(adminToken, "secret-admin-token");
 * const enrolment = auth.createEnrolmentToken();
 * const { clientId, token } = auth.enrol(`Bearer ${enrolment}`, { clientId: "phone-1" });
 * assert.deepEqual(auth.authenticate(`Bearer ${token}`), { role: "client", clientId });
 * auth.revoke("phone-1");
 * assert.throws(() => auth.authenticate(`Bearer ${token}`), /revoked/);
 * ```
 */
export class Auth {
  readonly #db: DatabaseSync | null;

  private constructor(db: DatabaseSync | null) {
    this.#db = db;
  }

  /** No checks: every request is let in. */
  static open(): Auth {
    return new Auth(null);
  }

  /**
   * Token checks over `db` (tables created if missing). Returns the admin
   * token when it was given or newly generated (print it: only its hash is
   * kept), or null when a saved one stays in force.
   */
  static create(options: AuthOptions = {}): { auth: Auth; adminToken: string | null } {
    const db = options.db ?? new DatabaseSync(":memory:");
    db.exec(`CREATE TABLE IF NOT EXISTS auth_tokens (hash TEXT PRIMARY KEY, kind TEXT NOT NULL,
      client_id TEXT, created TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)`);
    const auth = new Auth(db);
    const saved = db.prepare("SELECT hash FROM auth_tokens WHERE kind = 'admin'").get();
    let adminToken: string | null = null;
    if (options.adminToken !== undefined || !saved) {
      adminToken = options.adminToken ?? newToken("adm");
      if (adminToken.length < 16) {
        throw new RangeError("Cannot use the admin token: it must have at least 16 characters");
      }
      db.exec("DELETE FROM auth_tokens WHERE kind = 'admin'");
      auth.#insert(hash(adminToken), "admin", null);
    }
    if (options.enrolmentToken !== undefined) {
      if (options.enrolmentToken.length < 16) {
        throw new RangeError("Cannot use the enrolment token: it must have at least 16 characters");
      }
      db.prepare(
        "INSERT OR IGNORE INTO auth_tokens (hash, kind, client_id, created) VALUES (?, 'enrolment', NULL, ?)",
      ).run(hash(options.enrolmentToken), new Date().toISOString());
    }
    return { auth, adminToken };
  }

  /** Whether every request is let in. */
  get isOpen(): boolean {
    return this.#db === null;
  }

  #insert(tokenHash: string, kind: string, clientId: string | null): void {
    this.#db!.prepare(
      "INSERT INTO auth_tokens (hash, kind, client_id, created) VALUES (?, ?, ?, ?)",
    ).run(tokenHash, kind, clientId, new Date().toISOString());
  }

  #lookup(header: string | undefined): { kind: string; client_id: string | null; revoked: number } {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
    if (!match) throw unauthorized("Missing bearer token: send 'Authorization: Bearer <token>'");
    const row = this.#db!.prepare(
      "SELECT kind, client_id, revoked FROM auth_tokens WHERE hash = ?",
    ).get(hash(match[1]!)) as
      | { kind: string; client_id: string | null; revoked: number }
      | undefined;
    if (!row) throw unauthorized("Unknown token");
    if (row.revoked) throw unauthorized("The token has been revoked");
    return row;
  }

  /** Who sent `header` (an Authorization header). 401 without a valid token. */
  authenticate(header: string | undefined): Principal {
    if (this.isOpen) return { role: "open" };
    const row = this.#lookup(header);
    if (row.kind === "admin") return { role: "admin" };
    if (row.kind === "client") return { role: "client", clientId: row.client_id! };
    throw new ApiError(
      403,
      "forbidden",
      "An enrolment token only enrols: use it at POST /v1/enrol",
    );
  }

  /** Checks an admin request: 401 without a valid token, 403 for a client's. */
  requireAdmin(header: string | undefined): void {
    if (this.isOpen) return;
    if (this.authenticate(header).role !== "admin") {
      throw new ApiError(403, "forbidden", "This needs the admin token");
    }
  }

  /** A new enrolment token (admin). */
  createEnrolmentToken(): string {
    this.#requireTokens();
    const token = newToken("enr");
    this.#insert(hash(token), "enrolment", null);
    return token;
  }

  /**
   * Enrols a client with an enrolment token (`header`) and returns its own
   * bearer token. 401 for a bad enrolment token, 400 for a bad id, 409 for an
   * id already enrolled.
   */
  enrol(header: string | undefined, request: { clientId?: string }): {
    clientId: string;
    token: string;
  } {
    this.#requireTokens();
    const row = this.#lookup(header);
    if (row.kind !== "enrolment") {
      throw new ApiError(403, "forbidden", "Enrolling needs an enrolment token");
    }
    return this.issue(request.clientId ?? `client-${crypto.randomUUID().slice(0, 8)}`);
  }

  /** Issues a token for a new client (admin, or through {@linkcode enrol}). */
  issue(clientId: string): { clientId: string; token: string } {
    this.#requireTokens();
    if (!CLIENT_ID.test(clientId)) {
      throw new ApiError(
        400,
        "bad_request",
        `Cannot enrol "${
          clientId.slice(0, 80)
        }": a client id is 1 to 64 letters, digits, ".", "_" or "-"`,
      );
    }
    const taken = this.#db!.prepare(
      "SELECT 1 FROM auth_tokens WHERE kind = 'client' AND client_id = ?",
    ).get(clientId);
    if (taken) {
      throw new ApiError(409, "client_exists", `Cannot enrol "${clientId}": it is enrolled`);
    }
    const token = newToken("cli");
    this.#insert(hash(token), "client", clientId);
    return { clientId, token };
  }

  /** Revokes a client's token; 404 for a client never enrolled. */
  revoke(clientId: string): void {
    this.#requireTokens();
    const result = this.#db!.prepare(
      "UPDATE auth_tokens SET revoked = 1 WHERE kind = 'client' AND client_id = ?",
    ).run(clientId);
    if (result.changes === 0) {
      throw new ApiError(404, "not_found", `No client "${clientId}" is enrolled`);
    }
  }

  /** Every enrolled client. */
  clients(): EnrolledClient[] {
    if (this.isOpen) return [];
    return (this.#db!.prepare(
      "SELECT client_id, created, revoked FROM auth_tokens WHERE kind = 'client' ORDER BY created, client_id",
    ).all() as { client_id: string; created: string; revoked: number }[]).map((r) => ({
      clientId: r.client_id,
      created: r.created,
      revoked: r.revoked === 1,
    }));
  }

  #requireTokens(): void {
    if (this.isOpen) {
      throw new ApiError(
        409,
        "invalid_phase",
        "The coordinator runs without authentication (--insecure): there are no tokens",
      );
    }
  }
}
