/**
 * The OpenAPI 3.1 document of the v1 API, built from the tables of
 * operations beside each group of routes (`http/routes/*.ts`) and the zod
 * schemas in `shared/schemas/` that the app validates with (JSON Schema
 * 2020-12, which OpenAPI 3.1 uses as is). Served at `GET /v1/openapi.json`;
 * Swagger UI at `/docs`.
 * @module
 */
import { z } from "zod";
import { ErrorResponseSchema } from "../../shared/schemas/mod.ts";
import { enrolmentOperations } from "../http/routes/enrolment.ts";
import { secureOperations } from "../http/routes/secure.ts";
import { systemOperations } from "../http/routes/system.ts";
import { taskOperations } from "../http/routes/tasks.ts";
import { trainingOperations } from "../http/routes/training.ts";
import { uploadOperations } from "../http/routes/uploads.ts";
import type { Body, Operation } from "./api_operation.ts";

const ERROR_TEXT: Record<number, string> = {
  400: "Invalid input; the message says which field or part and why",
  401: "No token, or a token that is unknown or revoked",
  403: "The token may not do this",
  404: "No such task or route",
  408: "The body took too long to arrive",
  409:
    "Conflicts with the federation's state (stale, duplicate, paused, stopped, not selected), or an upload's offset",
  412: "Tus-Resumable is not 1.0.0",
  413: "The body is larger than allowed",
  415: "Wrong Content-Type",
  429: "Over the request rate; see Retry-After",
  503: "Busy; see Retry-After",
};

/** Every operation, group by group, in the document's order. */
const OPERATIONS: Operation[] = [
  ...systemOperations,
  ...enrolmentOperations,
  ...taskOperations,
  ...trainingOperations,
  ...uploadOperations,
  ...secureOperations,
];

function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io,
    unrepresentable: "any",
  }) as Record<string, unknown>;
  return rest;
}

function content(body: Body, io: "input" | "output", schemas: Record<string, unknown>) {
  if ("json" in body) {
    schemas[body.name] ??= jsonSchema(body.json, io);
    return { "application/json": { schema: { $ref: `#/components/schemas/${body.name}` } } };
  }
  if ("events" in body) {
    return { "text/event-stream": { schema: { type: "string", description: body.events } } };
  }
  return { [body.binary]: { schema: { type: "string", contentMediaType: body.binary } } };
}

function operation(op: Operation, perTask: boolean, schemas: Record<string, unknown>) {
  const errors = [
    ...(op.access === "none" ? [] : [401, 429]),
    ...(op.access === "admin" || op.access === "client" ? [403] : []),
    ...op.errors,
  ];
  const parameters = [
    ...(perTask ? ["taskId"] : []),
    ...[...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
  ].map((name) => ({ name, in: "path", required: true, schema: { type: "string" } } as Record<
    string,
    unknown
  >)).concat((op.query ?? []).map((q) => ({
    name: q.name,
    in: "query",
    required: q.required ?? false,
    description: q.description,
    schema: { type: "string" },
  })));
  return {
    summary: op.summary,
    operationId: `${op.method}${perTask ? "Task" : ""}${
      op.path.replace(/[{}]/g, "").split(/[/.-]/).map((p) => p.charAt(0).toUpperCase() + p.slice(1))
        .join("")
    }`,
    ...(op.access === "none" ? { security: [] } : {}),
    /** Who may call it: none (no token), any token, a client (as itself) or the admin. */
    "x-token": op.access,
    ...(parameters.length ? { parameters } : {}),
    ...(op.request
      ? { requestBody: { required: true, content: content(op.request, "input", schemas) } }
      : {}),
    responses: {
      [String(op.status)]: {
        description: op.summary,
        ...(op.response ? { content: content(op.response, "output", schemas) } : {}),
      },
      ...Object.fromEntries(
        [...new Set(errors)].sort().map((status) => [String(status), {
          description: ERROR_TEXT[status] ?? "Error",
          content: {
            "application/json": { schema: { $ref: "#/components/schemas/ErrorResponse" } },
          },
        }]),
      ),
    },
  };
}

/**
 * The OpenAPI 3.1 document of every v1 route.
 *
 * @example
 * ```ts
 * import { openApiDocument } from "./openapi.ts";
 * import assert from "node:assert/strict";
 * const doc = openApiDocument();
 * assert.equal(doc.openapi, "3.1.0");
 * assert.ok("/v1/tasks/{taskId}/updates" in doc.paths);
 * ```
 */
export function openApiDocument(): {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
} {
  const schemas: Record<string, unknown> = {
    ErrorResponse: jsonSchema(ErrorResponseSchema, "output"),
  };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    for (const perTask of op.perTask ? [false, true] : [false]) {
      const path = `/v1${perTask ? "/tasks/{taskId}" : ""}${op.path}`;
      (paths[path] ??= {})[op.method] = operation(op, perTask, schemas);
    }
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Federated R-Drop coordinator",
      version: "1",
      description:
        "A coordinator of federated, semi-supervised R-Drop training: tasks, global models, client updates (safetensors) and status. Every route but /v1/health and /v1/openapi.json needs a Bearer token: the admin's, a client's, or (for /v1/enrol) an enrolment token.",
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    },
  };
}
