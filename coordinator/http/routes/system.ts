/**
 * The routes that are not a task's: liveness, the OpenAPI document and its
 * Swagger UI, Prometheus metrics, the live status stream for dashboards,
 * the browser client's page and the dashboard. Part of createApp.
 * @module
 */
import type { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { TaskRegistry } from "../../federation/registry.ts";
import type { Metrics } from "../../observability/metrics.ts";
import type { Access } from "../_access.ts";
import { clientPage, dashboardPage } from "./client_page.ts";
import { docsPage } from "./docs_page.ts";
import type { Operation } from "../../observability/api_operation.ts";
import { HealthSchema } from "../../../shared/schemas/mod.ts";

/** What the system routes need from the app. */
export interface SystemRouteOptions {
  registry: TaskRegistry;
  who: Access["who"];
  metrics: Metrics;
  /** The OpenAPI document served at /v1/openapi.json. */
  openApi: unknown;
  /** The built client page. @default `client/web/dist/` */
  clientPageDir?: string;
}

/** How often /v1/events looks for changes. */
const EVENTS_POLL_MS = 500;

/** Adds the system routes to `app`. */
export function systemRoutes(app: Hono, options: SystemRouteOptions): void {
  const { registry, who, metrics } = options;
  app.get("/v1/health", (c) => c.json({ status: "ok" as const }));
  app.get("/v1/openapi.json", (c) => c.json(options.openApi));
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
}

/** The OpenAPI operations of the system routes (the pages and /metrics are not in it). */
export const systemOperations: Operation[] = [
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
];
