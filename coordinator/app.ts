/**
 * The v1 HTTP API over a {@linkcode TaskRegistry}: per-task routes under
 * `/v1/tasks/:taskId/...`, the same routes under `/v1/...` for the default
 * task, and the admin routes that create, list, pause, resume and stop tasks.
 * @module
 */
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { ApiError } from "./errors.ts";
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
}

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

  app.onError((error, c) => {
    if (error instanceof ApiError) return c.json(error.body(), error.status);
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

  app.get("/v1/health", (c) => c.json({ status: "ok" as const }));

  // Admin: tasks.
  app.get("/v1/tasks", (c) => c.json({ tasks: registry.list() }));
  app.post(
    "/v1/tasks",
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
        const federation = await registry.add(task);
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
      const federation = registry.get(c.req.param("taskId"));
      if (action === "pause") federation.pause();
      else if (action === "resume") federation.resume();
      else await federation.stop();
      return c.json(federation.status());
    });
  }

  // The task routes, for a named task and for the default one.
  for (const prefix of ["/v1/tasks/:taskId", "/v1"]) {
    const task = (c: Context): Federation => registry.get(c.req.param("taskId"));
    app.get(`${prefix}/task`, (c) => c.json(task(c).taskResponse()));
    app.get(`${prefix}/status`, (c) => c.json(task(c).status()));
    app.get(`${prefix}/model`, (c) => {
      const federation = task(c);
      // A client that names itself takes part in the open round.
      const clientId = c.req.query("clientId");
      if (clientId) federation.join(clientId);
      const global = federation.globalModel();
      const etag = `"${global.version}"`;
      c.header("ETag", etag);
      c.header("Cache-Control", "no-cache");
      if (matchesEtag(c.req.header("If-None-Match"), etag)) return c.body(null, 304);
      c.header("Content-Type", "application/octet-stream");
      return c.body(global.safetensors as Uint8Array<ArrayBuffer>);
    });
    app.get(`${prefix}/model/model.json`, (c) => {
      c.header("Cache-Control", "no-cache");
      return c.json(task(c).globalModel().tfjs.modelJson);
    });
    app.get(`${prefix}/model/weights.bin`, (c) => {
      c.header("Content-Type", "application/octet-stream");
      c.header("Cache-Control", "no-cache");
      return c.body(task(c).globalModel().tfjs.weightsBin as Uint8Array<ArrayBuffer>);
    });
    app.post(
      `${prefix}/failures`,
      bodyLimit({
        maxSize: 16 * 1024,
        onError: () => {
          throw new ApiError(
            413,
            "payload_too_large",
            "Cannot record failure: body exceeds 16 KiB",
          );
        },
      }),
      async (c) => {
        let body: unknown;
        try {
          body = await c.req.json();
        } catch {
          throw new ApiError(400, "invalid_failure", "Cannot record failure: the body is not JSON");
        }
        const report = FailureReportSchema.safeParse(body);
        if (!report.success) {
          throw new ApiError(
            400,
            "invalid_failure",
            `Cannot record failure: ${formatZodError(report.error)}`,
          );
        }
        return c.json(task(c).reportFailure(report.data), 202);
      },
    );
    app.post(
      `${prefix}/updates`,
      async (c, next) => {
        const federation = task(c);
        const limit = bodyLimit({
          maxSize: federation.maxUpdateBytes(),
          onError: () => {
            throw new ApiError(
              413,
              "payload_too_large",
              `Cannot accept update: body exceeds ${federation.maxUpdateBytes()} bytes`,
            );
          },
        });
        return await limit(c, next);
      },
      async (c) => {
        const bytes = new Uint8Array(await c.req.arrayBuffer());
        return c.json(task(c).submit(bytes), 202);
      },
    );
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
