/**
 * The OpenAPI 3.1 document of the v1 API, generated from the zod schemas in
 * `shared/schemas.ts` that the app validates with (JSON Schema 2020-12, which
 * OpenAPI 3.1 uses as is). Served at `GET /v1/openapi.json`; Swagger UI at
 * `/docs`.
 * @module
 */
import { z } from "zod";
import {
  ClientListSchema,
  EnrolmentTokenSchema,
  EnrolRequestSchema,
  EnrolResponseSchema,
  ErrorResponseSchema,
  FailureReportSchema,
  HealthSchema,
  JoinLinkSchema,
  RevokedSchema,
  StatusSchema,
  TaskFileSchema,
  TaskListSchema,
  TaskResponseSchema,
  UpdateAcceptedSchema,
} from "../shared/schemas.ts";
import {
  KeysRequestSchema,
  RevealRequestSchema,
  SecureAcceptedSchema,
  SecureStateSchema,
  SharesRequestSchema,
} from "../shared/secagg/wire.ts";

/** Who may call an operation. */
type Access = "none" | "any" | "client" | "admin";

type Body = { json: z.ZodType; name: string } | { binary: string } | { events: string };

interface Operation {
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

const OPERATIONS: Operation[] = [
  {
    method: "get",
    path: "/health",
    summary: "Liveness",
    access: "none",
    status: 200,
    response: { json: HealthSchema, name: "Health" },
    errors: [],
  },
  {
    method: "get",
    path: "/openapi.json",
    summary: "This document",
    access: "none",
    status: 200,
    response: { binary: "application/json" },
    errors: [],
  },
  {
    method: "get",
    path: "/events",
    summary: "Server-sent events: the status of every task, whenever it changes",
    access: "any",
    status: 200,
    response: { events: "`status` events, each a JSON {taskId, status}" },
    errors: [],
  },
  {
    method: "post",
    path: "/enrol",
    summary: "Enrol a client with an enrolment token (Bearer); returns its own token",
    access: "any",
    request: { json: EnrolRequestSchema, name: "EnrolRequest" },
    status: 201,
    response: { json: EnrolResponseSchema, name: "EnrolResponse" },
    errors: [400, 401, 409, 413],
  },
  {
    method: "post",
    path: "/enrolment-tokens",
    summary: "Create an enrolment token",
    access: "admin",
    status: 201,
    response: { json: EnrolmentTokenSchema, name: "EnrolmentToken" },
    errors: [],
  },
  {
    method: "post",
    path: "/join-link",
    summary: "Create a browser join link (a new enrolment token) with its QR code",
    access: "admin",
    status: 201,
    response: { json: JoinLinkSchema, name: "JoinLink" },
    errors: [],
  },
  {
    method: "get",
    path: "/clients",
    summary: "The enrolled clients",
    access: "admin",
    status: 200,
    response: { json: ClientListSchema, name: "ClientList" },
    errors: [],
  },
  {
    method: "post",
    path: "/clients",
    summary: "Enrol a client directly",
    access: "admin",
    request: { json: EnrolRequestSchema, name: "EnrolRequest" },
    status: 201,
    response: { json: EnrolResponseSchema, name: "EnrolResponse" },
    errors: [400, 409, 413],
  },
  {
    method: "post",
    path: "/clients/{clientId}/revoke",
    summary: "Revoke a client's token",
    access: "admin",
    status: 200,
    response: { json: RevokedSchema, name: "Revoked" },
    errors: [404],
  },
  {
    method: "get",
    path: "/tasks",
    summary: "The tasks served",
    access: "any",
    status: 200,
    response: { json: TaskListSchema, name: "TaskList" },
    errors: [],
  },
  {
    method: "post",
    path: "/tasks",
    summary: "Create a task from a task file",
    access: "admin",
    request: { json: TaskFileSchema, name: "TaskFile" },
    status: 201,
    response: { json: StatusSchema, name: "Status" },
    errors: [400, 409, 413],
  },
  ...(["pause", "resume", "stop"] as const).map((action): Operation => ({
    method: "post",
    path: `/tasks/{taskId}/${action}`,
    summary: {
      pause: "Pause a task: refuse updates, stop the deadline",
      resume: "Resume a paused task",
      stop: "Stop a task and export its final model",
    }[action],
    access: "admin",
    status: 200,
    response: { json: StatusSchema, name: "Status" },
    errors: [404, 409],
  })),
  {
    method: "get",
    path: "/task",
    summary: "The task: model topology, input, training, rounds, aggregation, codec",
    access: "any",
    perTask: true,
    status: 200,
    response: { json: TaskResponseSchema, name: "TaskResponse" },
    errors: [404],
  },
  {
    method: "get",
    path: "/status",
    summary: "Round, phase, clients and the per-round history",
    access: "any",
    perTask: true,
    status: 200,
    response: { json: StatusSchema, name: "Status" },
    errors: [404],
  },
  {
    method: "get",
    path: "/model",
    summary:
      "The global weights as safetensors (`?clientId=` joins the open round; ETag is the version)",
    access: "any",
    perTask: true,
    status: 200,
    response: { binary: "application/octet-stream" },
    errors: [403, 404, 409],
  },
  {
    method: "get",
    path: "/model/model.json",
    summary: "The global model in tfjs format",
    access: "any",
    perTask: true,
    status: 200,
    response: { binary: "application/json" },
    errors: [404],
  },
  {
    method: "get",
    path: "/model/weights.bin",
    summary: "The weights of model.json",
    access: "any",
    perTask: true,
    status: 200,
    response: { binary: "application/octet-stream" },
    errors: [404],
  },
  {
    method: "post",
    path: "/failures",
    summary: "Report that a client could not train in a round",
    access: "client",
    perTask: true,
    request: { json: FailureReportSchema, name: "FailureReport" },
    status: 202,
    response: { binary: "application/json" },
    errors: [400, 404, 409, 413],
  },
  {
    method: "post",
    path: "/updates",
    summary:
      "A client's update: the delta as safetensors, with its metadata (see docs/wire-format.md); or, as application/json {upload}, a finished resumable upload taken as the update",
    access: "client",
    perTask: true,
    request: { binary: "application/octet-stream" },
    status: 202,
    response: { json: UpdateAcceptedSchema, name: "UpdateAccepted" },
    errors: [400, 404, 408, 409, 413, 415, 503],
  },
  {
    method: "post",
    path: "/uploads",
    summary:
      "Resumable upload (tus 1.0 creation): headers Tus-Resumable: 1.0.0 and Upload-Length; the upload's URL is in Location",
    access: "client",
    perTask: true,
    status: 201,
    response: null,
    errors: [400, 404, 412, 413],
  },
  {
    method: "get",
    path: "/uploads/{uploadId}",
    summary:
      "Resumable upload (tus 1.0): HEAD (as tus clients ask; GET answers the same) tells its offset (Upload-Offset) and length (Upload-Length)",
    access: "client",
    perTask: true,
    status: 200,
    response: null,
    errors: [404, 412],
  },
  {
    method: "patch",
    path: "/uploads/{uploadId}",
    summary:
      "Resumable upload (tus 1.0): append bytes at Upload-Offset (Content-Type application/offset+octet-stream); a PATCH cut off counts for nothing",
    access: "client",
    perTask: true,
    request: { binary: "application/offset+octet-stream" },
    status: 204,
    response: null,
    errors: [400, 404, 409, 412, 413, 415],
  },
  {
    method: "delete",
    path: "/uploads/{uploadId}",
    summary: "Resumable upload (tus 1.0 termination): give it up",
    access: "client",
    perTask: true,
    status: 204,
    response: null,
    errors: [404, 412],
  },
  {
    method: "get",
    path: "/secagg",
    summary:
      "Secure aggregation: where the round's protocol stands for a client, and what it needs next (neighbours' keys, shares sealed to it, survivors and dropped)",
    access: "client",
    perTask: true,
    query: [
      { name: "clientId", description: "the client (open mode; else its token's)" },
      { name: "round", description: "the open round, or the one closed last" },
    ],
    status: 200,
    response: { json: SecureStateSchema, name: "SecureState" },
    errors: [400, 404, 409],
  },
  ...([
    [
      "keys",
      "Secure aggregation, stage keys: a client's two X25519 public keys",
      KeysRequestSchema,
      "KeysRequest",
    ],
    [
      "shares",
      "Secure aggregation, stage shares: the shares sealed to each neighbour (AES-GCM; the coordinator forwards them)",
      SharesRequestSchema,
      "SharesRequest",
    ],
    [
      "reveal",
      "Secure aggregation, stage unmask: the shares of survivors' self-mask seeds and dropped clients' mask keys",
      RevealRequestSchema,
      "RevealRequest",
    ],
  ] as const).map(([stage, summary, schema, name]): Operation => ({
    method: "post",
    path: `/secagg/${stage}`,
    summary,
    access: "client",
    perTask: true,
    request: { json: schema, name },
    status: 202,
    response: { json: SecureAcceptedSchema, name: "SecureAccepted" },
    errors: [400, 404, 409, 413],
  })),
  {
    method: "post",
    path: "/secagg/input",
    summary:
      "Secure aggregation, stage input: the masked input, little-endian uint32 values modulo 2^bits (the trainable values, then weight, numLabeled, numUnlabeled)",
    access: "client",
    perTask: true,
    query: [
      { name: "round", description: "the open round", required: true },
      { name: "clientId", description: "the client (open mode; else its token's)" },
    ],
    request: { binary: "application/octet-stream" },
    status: 202,
    response: { json: SecureAcceptedSchema, name: "SecureAccepted" },
    errors: [400, 404, 408, 409, 413, 415, 503],
  },
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
