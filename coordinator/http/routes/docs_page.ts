/**
 * Swagger UI at `/docs`, over `/v1/openapi.json`, served from the
 * `swagger-ui-dist` package (no CDN at run time).
 * @module
 */
import { Hono } from "hono";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { ApiError } from "../errors.ts";

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>API: Federated R-Drop coordinator</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>`;

const INIT = `window.ui = SwaggerUIBundle({ url: "/v1/openapi.json", dom_id: "#swagger-ui" });`;

const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
};

/**
 * The routes under `/docs`; mount with `app.route("/docs", docsPage())`.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { docsPage } from "./docs_page.ts";
 * import assert from "node:assert/strict";
 * const app = new Hono().route("/docs", docsPage());
 * assert.match(await (await app.request("/docs")).text(), /swagger-ui/);
 * ```
 */
export function docsPage(): Hono {
  const dir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  const app = new Hono();
  app.get("/", (c) => c.html(PAGE));
  app.get("/init.js", (c) => {
    c.header("Content-Type", "text/javascript; charset=utf-8");
    return c.body(INIT);
  });
  app.get("/:file", async (c) => {
    const name = c.req.param("file");
    const type = ASSETS[name];
    if (!type) throw new ApiError(404, "not_found", `No file "${name}" under /docs`);
    c.header("Content-Type", type);
    c.header("Cache-Control", "public, max-age=3600");
    return c.body(await Deno.readFile(join(dir, name)) as Uint8Array<ArrayBuffer>);
  });
  return app;
}
