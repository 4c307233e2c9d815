/**
 * The shape of one row of an OpenAPI table: each group of routes
 * (`http/routes/*.ts`) describes its operations with these, next to the
 * routes themselves, and `openapi.ts` builds the document from the tables.
 * @module
 */
import type { z } from "zod";

/** Who may call an operation: none (no token), any token, a client (as itself) or the admin. */
export type Access = "none" | "any" | "client" | "admin";

/** A request or response body: JSON of a schema, bytes of a media type, or server-sent events. */
export type Body = { json: z.ZodType; name: string } | { binary: string } | { events: string };

/**
 * One operation of the v1 API.
 *
 * @example
 * ```ts
 * import type { Operation } from "./api_operation.ts";
 * const health: Operation = {
 *   method: "get",
 *   path: "/health",
 *   summary: "Liveness",
 *   access: "none",
 *   status: 200,
 *   response: null,
 *   errors: [],
 * };
 * ```
 */
export interface Operation {
  method: "get" | "post" | "patch" | "delete";
  /** The path under `/v1`, in OpenAPI form (`/tasks/{taskId}/…`). */
  path: string;
  summary: string;
  access: Access;
  /** Also served per task, under `/v1/tasks/{taskId}`. */
  perTask?: boolean;
  request?: Body;
  /** The success answer. */
  status: number;
  response: Body | null;
  /** Error statuses besides those of `access`. */
  errors: number[];
  /** Query parameters. */
  query?: { name: string; description: string; required?: boolean }[];
}
