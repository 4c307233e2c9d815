/**
 * The v1 HTTP API over a {@linkcode TaskRegistry}: per-task routes under
 * `/v1/tasks/:taskId/...`, the same routes under `/v1/...` for the default
 * task, and the admin routes that create, list, pause, resume and stop tasks.
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import { streamSSE } from "hono/streaming";
import { Auth, type Principal } from "./auth.ts";
import { clientPage, dashboardPage } from "./client_page.ts";
import { docsPage } from "./docs_page.ts";
import { enrolmentRoutes, smallJson } from "./_enrolment_routes.ts";
import { secureRoutes } from "./_secure_routes.ts";
import { takeUpload, uploadRoutes } from "./_upload_routes.ts";
import { createMetrics } from "./metrics.ts";
import { openApiDocument } from "./openapi.ts";
import { ApiError } from "./errors.ts";
import { RateLimiter, UploadGate } from "./limits.ts";
import { readBody } from "./read_body.ts";
import { takeStreamedUpdate } from "./_streamed_update.ts";
import type { Federation } from "./federation.ts";
import { resolveTaskFile, TaskFileError } from "./load_task.ts";
import type { TaskRegistry } from "./registry.ts";
import { FailureReportSchema, formatZodError } from "../shared/schemas.ts";

/** Options of {@linkcode createApp}. */
export interface CreateAppOptions {
  /** Called with errors that are not the client's fault. @default console.error */
  onInternalError?: (error: unknown) => void;
  /** Folder that relative paths of tasks created over HTTP resolve against. @default Deno.cwd() */
  baseDir?: string;
  /** Token checks. @default Auth.open(): no checks (the CLI's explicit --insecure) */
  auth?: Auth;
  /** Limits on requests and uploads. */
  limits?: AppLimits;
  /** Origins allowed to call the API from a browser (CORS). @default none */
  corsOrigins?: string[];
  /** The built client page served at `/client/`. @default `client/web/dist/` */
  clientPageDir?: string;
  /** The address devices use (`https://fl.example.org:8787`), for join links. @default the request's origin */
  publicUrl?: () => string;
}

/** Limits of {@linkcode createApp}; each has a default. */
export interface AppLimits {
  /** Requests a second per client (by token; not applied in open mode). @default 50 */
  requestsPerSecond?: number;
  /** Requests a client may make at once. @default 100 */
  burst?: number;
  /** Uploads read at once (one per client). @default 16 */
  maxConcurrentUploads?: number;
  /** Uploads that wait their turn, bodies unread, before more get 503. @default 1024 */
  uploadQueue?: number;
  /** Seconds an upload may wait for its turn before 503. @default 60 */
  uploadWaitSeconds?: number;
  /** Seconds an update's body may take to arrive. @default 120 */
  uploadTimeoutSeconds?: number;
}

/** How often /v1/events looks for changes. */
const EVENTS_POLL_MS = 500;

/** Largest task body accepted by POST /v1/tasks (a topology can be large). */
const MAX_TASK_BYTES = 16 * 1024 * 1024;

/**
 * Builds the Hono app. Every error is answered as `{error: {code, message}}`
 * from one place.
 *
 * @example
 * ```ts
 * import { createApp } from "./app.ts";
 * import { TaskRegistry } from "./registry.ts";
 * import assert from "node:assert/strict";
 * const res = await createApp(new TaskRegistry()).request("/v1/health");
 * assert.deepEqual(await res.json(), { status: "ok" });
 * ```
 */
export function createApp(registry: TaskRegistry, options: CreateAppOptions = {}): Hono {
  const app = new Hono();
  const auth = options.auth ?? Auth.open();
  const limits = options.limits ?? {};
  const limiter = new RateLimiter({
    perSecond: limits.requestsPerSecond ?? 50,
    burst: limits.burst ?? 100,
  });
  const uploads = new UploadGate({
    max: limits.maxConcurrentUploads ?? 16,
    queue: limits.uploadQueue ?? 1024,
    waitMs: (limits.uploadWaitSeconds ?? 60) * 1000,
  });
  const uploadTimeoutMs = (limits.uploadTimeoutSeconds ?? 120) * 1000;
  let anonymousUploads = 0;

  app.onError((error, c) => {
    if (error instanceof ApiError) {
      for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
      if (error.status === 401) c.header("WWW-Authenticate", 'Bearer realm="v1"');
      return c.json(error.body(), error.status);
    }
    if (error instanceof HTTPException) {
      return c.json({ error: { code: "bad_request", message: error.message } }, error.status);
    }
    (options.onInternalError ?? console.error)(error);
    return c.json({ error: { code: "internal", message: "Internal error" } }, 500);
  });
  app.notFound((c) =>
    c.json(
      { error: { code: "not_found", message: `No route for ${c.req.method} ${c.req.path}` } },
      404,
    )
  );

  const metrics = createMetrics(registry);
  app.use(metrics.middleware);
  app.use(secureHeaders({ crossOriginResourcePolicy: false }));
  if (options.corsOrigins?.length) {
    app.use("/v1/*", cors({ origin: options.corsOrigins, exposeHeaders: ["ETag", "Retry-After"] }));
  }

  /** The sender of a request, checked for `need` and counted against its rate. */
  const who = (c: Context, need: "admin" | "client" | "any"): Principal => {
    const header = c.req.header("Authorization");
    if (need === "admin") auth.requireAdmin(header);
    const principal = auth.authenticate(header);
    if (need === "client" && principal.role === "admin") {
      throw new ApiError(
        403,
        "forbidden",
        "The admin token cannot act as a client: enrol one (POST /v1/enrol)",
      );
    }
    if (principal.role !== "open") {
      limiter.take(principal.role === "client" ? principal.clientId : "admin");
    }
    return principal;
  };
  /** The client a request acts for: its token's, or (open mode) the one it names. */
  const actingAs = (principal: Principal, named: string | undefined): string | undefined => {
    if (principal.role === "admin" && named !== undefined) {
      throw new ApiError(
        403,
        "forbidden",
        "The admin token cannot act as a client: enrol one (POST /v1/enrol)",
      );
    }
    if (principal.role !== "client") return named;
    if (named !== undefined && named !== principal.clientId) {
      throw new ApiError(
        403,
        "forbidden",
        `Client "${principal.clientId}" cannot act as "${named.slice(0, 80)}"`,
      );
    }
    return principal.clientId;
  };

  app.get("/v1/health", (c) => c.json({ status: "ok" as const }));
  const openApi = openApiDocument();
  app.get("/v1/openapi.json", (c) => c.json(openApi));
  app.route("/docs", docsPage());
  app.get("/metrics", async (c) => {
    who(c, "any");
    c.header("Content-Type", metrics.contentType);
    return c.body(await metrics.render());
  });
  // Live status for dashboards: every task's status as it changes.
  // One snapshot of a task's status per tick, shared by every open stream.
  const snapshots = new Map<string, { at: number; json: string }>();
  const snapshot = (taskId: string): string => {
    const cached = snapshots.get(taskId);
    if (cached && performance.now() - cached.at < EVENTS_POLL_MS / 2) return cached.json;
    const json = JSON.stringify(registry.get(taskId).status());
    snapshots.set(taskId, { at: performance.now(), json });
    return json;
  };
  app.get("/v1/events", (c) => {
    who(c, "any");
    return streamSSE(c, async (stream) => {
      const last = new Map<string, string>();
      let id = 0;
      while (!stream.aborted && !stream.closed) {
        for (const { id: taskId } of registry.list()) {
          const status = snapshot(taskId);
          if (last.get(taskId) === status) continue;
          last.set(taskId, status);
          await stream.writeSSE({
            event: "status",
            id: String(++id),
            data: `{"taskId":${JSON.stringify(taskId)},"status":${status}}`,
          });
        }
        await stream.sleep(EVENTS_POLL_MS);
      }
    });
  });

  // The browser client: a page for people, not part of the v1 API.
  app.get("/client", (c) => c.redirect(`/client/${new URL(c.req.url).search}`, 301));
  app.route("/client", clientPage({ registry, dir: options.clientPageDir }));
  app.get("/", dashboardPage(options.clientPageDir));

  // Enrolment, clients' tokens and join links.
  enrolmentRoutes(app, { auth, who, publicUrl: options.publicUrl });

  // Admin: tasks.
  app.get("/v1/tasks", (c) => {
    who(c, "any");
    return c.json({ tasks: registry.list() });
  });
  app.post(
    "/v1/tasks",
    (c, next) => {
      who(c, "admin");
      return next();
    },
    bodyLimit({
      maxSize: MAX_TASK_BYTES,
      onError: () => {
        throw new ApiError(
          413,
          "payload_too_large",
          `Cannot create task: body exceeds ${MAX_TASK_BYTES} bytes`,
        );
      },
    }),
    async (c) => {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw new ApiError(400, "invalid_task", "Cannot create task: the body is not JSON");
      }
      try {
        const task = await resolveTaskFile(body, {
          baseDir: options.baseDir ?? Deno.cwd(),
          source: "request",
        });
        const federation = await registry.add(task, { source: JSON.stringify(body) });
        return c.json(federation.status(), 201);
      } catch (error) {
        if (error instanceof TaskFileError) throw new ApiError(400, "invalid_task", error.message);
        throw error;
      }
    },
  );
  const admin = { pause: "pause", resume: "resume", stop: "stop" } as const;
  for (const action of Object.values(admin)) {
    app.post(`/v1/tasks/:taskId/${action}`, async (c) => {
      who(c, "admin");
      const federation = registry.get(c.req.param("taskId"));
      if (action === "pause") federation.pause();
      else if (action === "resume") federation.resume();
      else await federation.stop();
      return c.json(federation.status());
    });
  }

  uploadRoutes(app, {
    prefixes: ["/v1/tasks/:taskId", "/v1"],
    task: (c) => registry.get(c.req.param("taskId")),
    who,
    actingAs,
    timeoutMs: uploadTimeoutMs,
  });
  secureRoutes(app, {
    prefixes: ["/v1/tasks/:taskId", "/v1"],
    task: (c) => registry.get(c.req.param("taskId")),
    who,
    actingAs,
    uploads,
    uploadTimeoutMs,
  });

  // The task routes, for a named task and for the default one.
  for (const prefix of ["/v1/tasks/:taskId", "/v1"]) {
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
      // Served over node:http (http_server.ts): the body is read from its stream,
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

  return app;
}

/** Whether an If-None-Match header (a list, weak tags, or `*`) matches `etag`. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(",").map((tag) => tag.trim().replace(/^W\//, "")).some((tag) =>
    tag === "*" || tag === etag
  );
}
