/**
 * A task's routes for its clients, under `/v1/tasks/:taskId/...` and, for
 * the default task, `/v1/...`: the task, its status, the global model (as
 * safetensors with an ETag, and in tfjs format), failure reports, and
 * POST /v1/updates, which takes an update whole, streamed into the spool, or
 * from a finished resumable upload. Part of createApp.
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, Hono } from "hono";
import type { Federation } from "../../federation/federation.ts";
import type { TaskRegistry } from "../../federation/registry.ts";
import { takeStreamedUpdate } from "../../ingest/streamed_update.ts";
import type { Metrics } from "../../observability/metrics.ts";
import type { Access } from "../_access.ts";
import { ApiError } from "../errors.ts";
import type { UploadGate } from "../limits.ts";
import { readBody } from "../read_body.ts";
import { smallJson } from "./enrolment.ts";
import { takeUpload } from "./uploads.ts";
import type { Operation } from "../../observability/api_operation.ts";
import {
  FailureReportSchema,
  formatZodError,
  StatusSchema,
  TaskResponseSchema,
  UpdateAcceptedSchema,
} from "../../../shared/schemas/mod.ts";

/** What the training routes need from the app. */
export interface TrainingRouteOptions extends Access {
  /** The task prefixes (`/v1/tasks/:taskId`, `/v1`). */
  prefixes: string[];
  registry: TaskRegistry;
  metrics: Metrics;
  /** Uploads read at once, one per client. */
  uploads: UploadGate;
  /** The longest an update's body may take. */
  uploadTimeoutMs: number;
}

/** Adds the training routes to `app`. */
export function trainingRoutes(app: Hono, options: TrainingRouteOptions): void {
  const { registry, who, actingAs, metrics, uploads, uploadTimeoutMs } = options;
  let anonymousUploads = 0;
  for (const prefix of options.prefixes) {
    const task = (c: Context): Federation => registry.get(c.req.param("taskId"));
    app.get(`${prefix}/task`, (c) => {
      who(c, "any");
      return c.json(task(c).taskResponse());
    });
    app.get(`${prefix}/status`, (c) => {
      who(c, "any");
      return c.json(task(c).status());
    });
    app.get(`${prefix}/model`, (c) => {
      const principal = who(c, "any");
      const federation = task(c);
      // A client that names itself (or holds a client token) takes part in the open round.
      const clientId = actingAs(principal, c.req.query("clientId"));
      if (clientId) federation.join(clientId);
      const global = federation.globalModel();
      const etag = `"${global.version}"`;
      c.header("ETag", etag);
      c.header("Cache-Control", "no-cache");
      if (matchesEtag(c.req.header("If-None-Match"), etag)) return c.body(null, 304);
      metrics.sent(global.safetensors.byteLength);
      c.header("Content-Type", "application/octet-stream");
      return c.body(global.safetensors as Uint8Array<ArrayBuffer>);
    });
    app.get(`${prefix}/model/model.json`, (c) => {
      who(c, "any");
      c.header("Cache-Control", "no-cache");
      return c.json(task(c).globalModel().tfjs.modelJson);
    });
    app.get(`${prefix}/model/weights.bin`, (c) => {
      who(c, "any");
      c.header("Content-Type", "application/octet-stream");
      c.header("Cache-Control", "no-cache");
      return c.body(task(c).globalModel().tfjs.weightsBin as Uint8Array<ArrayBuffer>);
    });
    app.post(
      `${prefix}/failures`,
      async (c) => {
        const principal = who(c, "client");
        const body = await smallJson(c.req.raw, "record failure", "invalid_failure");
        const report = FailureReportSchema.safeParse(body);
        if (!report.success) {
          throw new ApiError(
            400,
            "invalid_failure",
            `Cannot record failure: ${formatZodError(report.error)}`,
          );
        }
        actingAs(principal, report.data.clientId);
        return c.json(task(c).reportFailure(report.data), 202);
      },
    );
    app.post(`${prefix}/updates`, async (c) => {
      const principal = who(c, "client");
      const federation = task(c);
      const type = c.req.header("Content-Type")?.split(";")[0]?.trim().toLowerCase();
      if (type !== "application/octet-stream" && type !== "application/json") {
        throw new ApiError(
          415,
          "unsupported_media_type",
          `Cannot accept update: Content-Type must be application/octet-stream (safetensors), or application/json naming a finished resumable upload, got ${
            type ? `"${type.slice(0, 80)}"` : "none"
          }`,
        );
      }
      const clientId = actingAs(principal, undefined);
      const taskId = federation.task.id;
      // Served over node:http (http/listener.ts): the body is read from its stream,
      // and a client that goes away while waiting leaves the upload queue.
      const env = c.env as { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;
      const gone = new AbortController();
      env?.outgoing?.once("close", () => gone.abort());
      // One upload per client at a time, and a bound on all of them.
      let release: () => void;
      try {
        // One at a time per authenticated client; in open mode a request has no
        // identity before its body is read (clients may share an address), so
        // only the total bound applies.
        release = await uploads.acquire(clientId ?? `request:${++anonymousUploads}`, gone.signal);
      } catch (error) {
        // Refused before reading: the body is not wanted, do not buffer it.
        await c.req.raw.body?.cancel().catch(() => {});
        if (error instanceof ApiError) metrics.update(taskId, { code: error.code }, 0);
        throw error;
      }
      let received = 0;
      try {
        if (type === "application/json") {
          // A finished resumable upload (/v1/uploads), taken as the update.
          const answer = await takeUpload(c, federation, { clientId, timeoutMs: uploadTimeoutMs });
          metrics.update(taskId, { accepted: true }, 0);
          return c.json(answer, 202);
        }
        if (federation.streamsUpdates && env?.incoming) {
          // Checked and spooled chunk by chunk: an upload costs O(chunk) memory.
          const answer = await takeStreamedUpdate(federation, env.incoming, {
            clientId,
            timeoutMs: uploadTimeoutMs,
            received: (n) => (received = n),
          });
          metrics.update(taskId, { accepted: true }, received);
          return c.json(answer, 202);
        }
        const bytes = await readBody(c.req.raw, {
          incoming: env?.incoming,
          maxBytes: federation.maxUpdateBytes(),
          timeoutMs: uploadTimeoutMs,
        });
        received = bytes.byteLength;
        const answer = await federation.accept(bytes, { clientId });
        metrics.update(taskId, { accepted: true }, received);
        return c.json(answer, 202);
      } catch (error) {
        if (error instanceof ApiError) metrics.update(taskId, { code: error.code }, received);
        throw error;
      } finally {
        release();
      }
    });
  }
}

/** Whether an If-None-Match header (a list, weak tags, or `*`) matches `etag`. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(",").map((tag) => tag.trim().replace(/^W\//, "")).some((tag) =>
    tag === "*" || tag === etag
  );
}

/** The OpenAPI operations of a task's routes for its clients. */
export const trainingOperations: Operation[] = [
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
];
