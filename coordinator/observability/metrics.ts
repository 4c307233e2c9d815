/**
 * Prometheus metrics of the coordinator at `GET /metrics` (prom-client, in the
 * text exposition format): rounds, updates accepted and rejected by reason,
 * bytes in and out, aggregation, evaluation and round durations, connected
 * clients, and HTTP latency by route.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { TaskRegistry } from "../federation/registry.ts";

/** A client seen within this many seconds counts as connected. */
const CONNECTED_SECONDS = 60;

/** The coordinator's metrics. */
export interface Metrics {
  /** Times every request by method, route and status. */
  middleware: MiddlewareHandler;
  /** Counts an update: accepted, or rejected with its error code. */
  update(taskId: string, outcome: { accepted: true } | { code: string }, bytes: number): void;
  /** Counts bytes sent (models). */
  sent(bytes: number): void;
  /** The exposition text, with the round metrics brought up to date. */
  render(): Promise<string>;
  /** Its Content-Type. */
  contentType: string;
}

/**
 * Metrics over `registry`'s tasks.
 *
 * @example
 * ```ts
 * import { createMetrics } from "./metrics.ts";
 * import { TaskRegistry } from "../federation/registry.ts";
 * import assert from "node:assert/strict";
 * const metrics = createMetrics(new TaskRegistry());
 * metrics.update("t", { code: "stale_update" }, 10);
 * assert.match(await metrics.render(), /fl_updates_rejected_total\{task="t",reason="stale_update"\} 1/);
 * ```
 */
export function createMetrics(registry: TaskRegistry): Metrics {
  const register = new Registry();
  const counter = (name: string, help: string, labelNames: string[]) =>
    new Counter({ name, help, labelNames, registers: [register] });
  const rounds = counter("fl_rounds_total", "Rounds (or async versions) closed", ["task"]);
  const accepted = counter("fl_updates_accepted_total", "Updates accepted", ["task"]);
  const rejected = counter(
    "fl_updates_rejected_total",
    "Updates rejected, by reason (the error code)",
    ["task", "reason"],
  );
  const bytesIn = counter("fl_update_bytes_received_total", "Bytes of update bodies received", [
    "task",
  ]);
  const bytesOut = counter("fl_model_bytes_sent_total", "Bytes of global models sent", []);
  const seconds = (name: string, help: string, buckets: number[]) =>
    new Histogram({ name, help, labelNames: ["task"], buckets, registers: [register] });
  const roundSeconds = seconds("fl_round_duration_seconds", "Round duration, open to close", [
    1,
    5,
    15,
    30,
    60,
    120,
    300,
    900,
    3600,
  ]);
  const fast = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];
  const aggregationSeconds = seconds(
    "fl_aggregation_duration_seconds",
    "Aggregation at a round's close",
    fast,
  );
  const evaluationSeconds = seconds(
    "fl_evaluation_duration_seconds",
    "Holdout evaluation at a round's close",
    fast,
  );
  const connected = new Gauge({
    name: "fl_clients_connected",
    help: `Clients seen in the last ${CONNECTED_SECONDS} s`,
    labelNames: ["task"],
    registers: [register],
  });
  const epsilon = new Gauge({
    name: "fl_privacy_epsilon",
    help: "Differential privacy: epsilon spent so far (at the task's delta)",
    labelNames: ["task"],
    registers: [register],
  });
  const holdout = (name: string, help: string) =>
    new Gauge({ name, help, labelNames: ["task"], registers: [register] });
  const accuracy = holdout(
    "fl_holdout_accuracy",
    "The global model's holdout accuracy after the last evaluated round (sequences: per labeled position)",
  );
  const loss = holdout(
    "fl_holdout_loss",
    "The global model's mean holdout cross-entropy after the last evaluated round",
  );
  const perplexity = holdout(
    "fl_holdout_perplexity",
    "A sequence task: the global model's holdout perplexity after the last evaluated round",
  );
  const http = new Histogram({
    name: "fl_http_request_duration_seconds",
    help: "HTTP request latency by method, route and status",
    labelNames: ["method", "route", "status"],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [register],
  });
  // Rounds are read off each task's history at scrape time.
  const counted = new Map<string, number>();

  return {
    contentType: register.contentType,
    middleware: async (c, next) => {
      const start = performance.now();
      try {
        await next();
      } finally {
        http.observe(
          { method: c.req.method, route: c.req.routePath || "unmatched", status: c.res.status },
          (performance.now() - start) / 1000,
        );
      }
    },
    update(taskId, outcome, bytes) {
      bytesIn.inc({ task: taskId }, bytes);
      if ("accepted" in outcome) accepted.inc({ task: taskId });
      else rejected.inc({ task: taskId, reason: outcome.code });
    },
    sent(bytes) {
      bytesOut.inc(bytes);
    },
    async render() {
      const now = Date.now();
      for (const { id } of registry.list()) {
        const status = registry.get(id).status();
        const seen = counted.get(id) ?? 0;
        for (const round of status.history.slice(1 + seen)) {
          rounds.inc({ task: id });
          roundSeconds.observe({ task: id }, round.seconds);
          if (round.aggregationSeconds !== undefined) {
            aggregationSeconds.observe({ task: id }, round.aggregationSeconds);
          }
          if (round.evaluationSeconds !== undefined) {
            evaluationSeconds.observe({ task: id }, round.evaluationSeconds);
          }
        }
        counted.set(id, Math.max(seen, status.history.length - 1));
        if (status.privacy) epsilon.set({ task: id }, status.privacy.epsilon);
        const evaluated = status.history.findLast((m) => m.accuracy !== null);
        if (evaluated) {
          accuracy.set({ task: id }, evaluated.accuracy!);
          if (evaluated.loss !== null) loss.set({ task: id }, evaluated.loss);
          if (evaluated.perplexity !== undefined) {
            perplexity.set({ task: id }, evaluated.perplexity);
          }
        }
        connected.set(
          { task: id },
          status.clients.filter((c) => now - Date.parse(c.lastSeen) < CONNECTED_SECONDS * 1000)
            .length,
        );
      }
      return await register.metrics();
    },
  };
}
