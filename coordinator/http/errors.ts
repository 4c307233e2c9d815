/**
 * The one error type of the API: it knows its status and JSON body.
 * @module
 */
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorResponse } from "../../shared/schemas/mod.ts";

/** Machine-readable error codes of the API. */
export type ErrorCode =
  | "bad_request"
  | "invalid_update"
  | "stale_update"
  | "duplicate_update"
  | "task_paused"
  | "task_stopped"
  | "task_exists"
  | "invalid_task"
  | "invalid_failure"
  | "not_selected"
  | "not_started"
  | "invalid_phase"
  | "payload_too_large"
  | "unauthorized"
  | "forbidden"
  | "client_exists"
  | "rate_limited"
  | "request_timeout"
  | "incomplete_body"
  | "busy"
  | "unsupported_media_type"
  | "not_found"
  | "not_built"
  | "secure_aggregation_required"
  | "upload_incomplete"
  | "vocabulary_mismatch"
  | "internal";

/**
 * An error with an HTTP status, answered as `{error: {code, message}}`.
 *
 * @example
 * ```ts
 * import { ApiError } from "./errors.ts";
 * import assert from "node:assert/strict";
 * const error = new ApiError(409, "stale_update", "Cannot accept update: round 1 is closed");
 * assert.equal(error.body().error.code, "stale_update");
 * ```
 */
export class ApiError extends HTTPException {
  /** The machine-readable code. */
  readonly code: ErrorCode;
  /** Headers of the answer, e.g. Retry-After. */
  readonly headers: Record<string, string>;

  /** Creates an error answered with `status` (and `headers`). */
  constructor(
    status: ContentfulStatusCode,
    code: ErrorCode,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(status, { message });
    this.name = "ApiError";
    this.code = code;
    this.headers = headers;
  }

  /** The JSON body of the answer. */
  body(): ErrorResponse {
    return { error: { code: this.code, message: this.message } };
  }
}
