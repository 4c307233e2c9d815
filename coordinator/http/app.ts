/**
 * The v1 HTTP API over a {@linkcode TaskRegistry}: per-task routes under
 * `/v1/tasks/:taskId/...`, the same routes under `/v1/...` for the default
 * task, and the admin routes that create, list, pause, resume and stop tasks.
 * The routes live by group in `routes/`; this file wires them up and turns
 * every error into one JSON answer.
 * @module
 */
import { type Context, Hono } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import type { TaskRegistry } from "../federation/registry.ts";
import { createMetrics } from "../observability/metrics.ts";
import { openApiDocument } from "../observability/openapi.ts";
import { access } from "./_access.ts";
import { Auth } from "./auth.ts";
import { ApiError } from "./errors.ts";
import { RateLimiter, UploadGate } from "./limits.ts";
import { enrolmentRoutes } from "./routes/enrolment.ts";
import { secureRoutes } from "./routes/secure.ts";
import { systemRoutes } from "./routes/system.ts";
import { taskRoutes } from "./routes/tasks.ts";
import { trainingRoutes } from "./routes/training.ts";
import { uploadRoutes } from "./routes/uploads.ts";

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

/**
 * Builds the Hono app. Every error is answered as `{error: {code, message}}`
 * from one place.
 *
 * @example
 * ```ts
 * import { createApp } from "./app.ts";
 * import { TaskRegistry } from "../federation/registry.ts";
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

  const { who, actingAs } = access(auth, limiter);
  const prefixes = ["/v1/tasks/:taskId", "/v1"];
  const task = (c: Context) => registry.get(c.req.param("taskId"));
  systemRoutes(app, {
    registry,
    who,
    metrics,
    openApi: openApiDocument(),
    clientPageDir: options.clientPageDir,
  });
  enrolmentRoutes(app, { auth, who, publicUrl: options.publicUrl });
  taskRoutes(app, { registry, who, baseDir: options.baseDir ?? Deno.cwd() });
  uploadRoutes(app, { prefixes, task, who, actingAs, timeoutMs: uploadTimeoutMs });
  secureRoutes(app, { prefixes, task, who, actingAs, uploads, uploadTimeoutMs });
  trainingRoutes(app, { prefixes, registry, who, actingAs, metrics, uploads, uploadTimeoutMs });
  return app;
}
