/**
 * The v1 HTTP API over a {@linkcode Federation}.
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { ApiError } from "./errors.ts";
import type { Federation } from "./federation.ts";

/** Options of {@linkcode createApp}. */
export interface CreateAppOptions {
  /** Called with errors that are not the client's fault. @default console.error */
  onInternalError?: (error: unknown) => void;
}

/**
 * Builds the Hono app of the v1 API: health, task, model (safetensors and
 * tfjs), updates and status. Every error is answered as
 * `{error: {code, message}}` from one place.
 *
 * @example
 * ```ts
 * import { createApp } from "./app.ts";
 * import { Federation } from "./federation.ts";
 * import { buildModel } from "../shared/model.ts";
 * import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const task = mnistMlpTask();
 * const federation = await Federation.create({ task, model: await buildModel(task.model.topology) });
 * const res = await createApp(federation).request("/v1/health");
 * assert.deepEqual(await res.json(), { status: "ok" });
 * federation.close();
 * ```
 */
export function createApp(federation: Federation, options: CreateAppOptions = {}): Hono {
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
  app.get("/v1/task", (c) => c.json(federation.taskResponse()));
  app.get("/v1/status", (c) => c.json(federation.status()));

  app.get("/v1/model", (c) => {
    const global = federation.globalModel();
    const etag = `"${global.version}"`;
    c.header("ETag", etag);
    c.header("Cache-Control", "no-cache");
    if (matchesEtag(c.req.header("If-None-Match"), etag)) return c.body(null, 304);
    c.header("Content-Type", "application/octet-stream");
    return c.body(global.safetensors as Uint8Array<ArrayBuffer>);
  });
  app.get("/v1/model/model.json", (c) => {
    c.header("Cache-Control", "no-cache");
    return c.json(federation.globalModel().tfjs.modelJson);
  });
  app.get("/v1/model/weights.bin", (c) => {
    c.header("Content-Type", "application/octet-stream");
    c.header("Cache-Control", "no-cache");
    return c.body(federation.globalModel().tfjs.weightsBin as Uint8Array<ArrayBuffer>);
  });

  app.post(
    "/v1/updates",
    bodyLimit({
      maxSize: federation.maxUpdateBytes(),
      onError: () => {
        throw new ApiError(
          413,
          "payload_too_large",
          `Cannot accept update: body exceeds ${federation.maxUpdateBytes()} bytes`,
        );
      },
    }),
    async (c) => {
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      return c.json(federation.submit(bytes), 202);
    },
  );

  return app;
}

/** Whether an If-None-Match header (a list, weak tags, or `*`) matches `etag`. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(",").map((tag) => tag.trim().replace(/^W\//, "")).some((tag) =>
    tag === "*" || tag === etag
  );
}
