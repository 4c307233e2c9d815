/**
 * The browser client served by the coordinator: the page built by
 * `deno task build-web` at `/client/`, and demo shards of MNIST digits for
 * people who want to try it without data of their own.
 * @module
 */
import { type Handler, Hono } from "hono";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Dataset, selectRows } from "../../../shared/data/dataset.ts";
import { encodeDemoShard } from "../../../shared/data/demo_shard.ts";
import { loadMnistSplit } from "../../../shared/data/mnist.ts";
import { partition } from "../../../shared/data/partition.ts";
import { ApiError } from "../errors.ts";
import type { TaskRegistry } from "../../federation/registry.ts";
import { elementCount } from "../../../shared/shape.ts";

/** The folder `deno task build-web` writes. */
export const CLIENT_PAGE_DIR = fileURLToPath(new URL("../../../client/web/dist/", import.meta.url));

/** Options of {@linkcode clientPage}. */
export interface ClientPageOptions {
  /** The tasks, for the demo shard's input check. */
  registry: TaskRegistry;
  /** The built page. @default {@linkcode CLIENT_PAGE_DIR} */
  dir?: string;
  /** The rows demo shards are cut from. @default the MNIST train split (seed 0) */
  demoRows?: () => Promise<Dataset>;
}

/** Fraction of a demo shard's rows that keep their label. */
const DEMO_LABELED = 0.1;
/** Most shards the demo rows may be cut into. */
const MAX_DEMO_SHARDS = 100;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
};

/**
 * The dashboard at `/`: `dashboard.html` of the built folder, or 503 naming
 * the build task.
 *
 * @example
 * ```ts ignore
 * app.get("/", dashboardPage());
 * ```
 */
export function dashboardPage(dir: string = CLIENT_PAGE_DIR): Handler {
  return async (c) => {
    const bytes = await readBuilt(dir, "dashboard.html", "The dashboard");
    c.header("Content-Type", TYPES[".html"]!);
    c.header("Cache-Control", "no-cache");
    c.header("Content-Security-Policy", DASHBOARD_POLICY);
    return c.body(bytes as Uint8Array<ArrayBuffer>);
  };
}

/**
 * A file of the built folder; a missing one is 404 when the folder is built
 * (it has `index.html`) and 503 naming the build task when it is not.
 */
async function readBuilt(dir: string, name: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(join(dir, name));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    const built = await Deno.stat(join(dir, "index.html")).then(() => true, () => false);
    if (built) throw new ApiError(404, "not_found", `No file "${name}" on the client page`);
    throw new ApiError(
      503,
      "not_built",
      `${what} is not built: run \`deno task build-web\` and reload`,
    );
  }
}

/** The dashboard's scripts and styles come from this origin; uPlot sets inline styles. */
const DASHBOARD_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/** The page may run its own scripts, tfjs's wasm, and talk to this origin only. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "worker-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/**
 * The routes under `/client`: the page, its scripts and wasm binaries, and
 * `GET /client/demo-shard?shard=K/N[&task=ID]` (the K-th of N IID shards of
 * the demo rows, 10% of each labeled, as {@linkcode encodeDemoShard} bytes;
 * only for tasks with 784 input values and 10 classes). Mount it with
 * `app.route("/client", clientPage({ registry }))`.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { clientPage } from "./client_page.ts";
 * import { TaskRegistry } from "../../federation/registry.ts";
 * import assert from "node:assert/strict";
 * const app = new Hono().route("/client", clientPage({ registry: new TaskRegistry(), dir: "/nonexistent" }));
 * assert.equal((await app.request("/client/")).status, 503);
 * ```
 */
export function clientPage(options: ClientPageOptions): Hono {
  const { registry, dir = CLIENT_PAGE_DIR } = options;
  const demoRows = options.demoRows ?? (async () => (await loadMnistSplit({ seed: 0 })).train);
  let rows: Promise<Dataset> | null = null;
  const shards = new Map<number, Dataset[]>();

  const app = new Hono();
  app.get("/demo-shard", async (c) => {
    const match = /^(\d{1,3})\/(\d{1,3})$/.exec(c.req.query("shard") ?? "");
    const k = Number(match?.[1]);
    const n = Number(match?.[2]);
    if (!match || n < 1 || n > MAX_DEMO_SHARDS || k < 1 || k > n) {
      throw new ApiError(
        400,
        "bad_request",
        `Cannot serve a demo shard: shard must be K/N with 1 <= K <= N <= ${MAX_DEMO_SHARDS}`,
      );
    }
    let task;
    try {
      task = registry.get(c.req.query("task")).task;
    } catch (error) {
      throw new ApiError(404, "not_found", error instanceof Error ? error.message : String(error));
    }
    const size = elementCount(task.input.shape);
    if (size !== 784 || task.input.labels.length !== 10) {
      throw new ApiError(
        404,
        "not_found",
        `Task "${task.id}" has no demo shard: the demo digits fit tasks of 784 inputs and 10 classes`,
      );
    }
    rows ??= demoRows();
    const all = await rows;
    let cut = shards.get(n);
    if (!cut) {
      cut = partition(all.labels, [...all.labels.keys()], {
        clients: n,
        labeledFraction: DEMO_LABELED,
        seed: 0,
      }).map((part) => selectRows(all, part.rows, { hideLabels: part.unlabeledRows }));
      shards.set(n, cut);
    }
    c.header("Content-Type", "application/octet-stream");
    c.header("Cache-Control", "no-store");
    return c.body(encodeDemoShard(cut[k - 1]!) as Uint8Array<ArrayBuffer>);
  });
  app.get("/:file{[A-Za-z0-9_.-]*}", async (c) => {
    const name = c.req.param("file") || "index.html";
    const type = TYPES[extname(name)];
    if (!type || name.startsWith(".")) {
      throw new ApiError(404, "not_found", `No file "${name}" on the client page`);
    }
    const bytes = await readBuilt(dir, name, "The client page");
    c.header("Content-Type", type);
    c.header("Cache-Control", name === "index.html" ? "no-cache" : "public, max-age=300");
    if (name === "index.html") c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    return c.body(bytes as Uint8Array<ArrayBuffer>);
  });
  return app;
}
