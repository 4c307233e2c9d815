/**
 * End-to-end ingest over loopback HTTP: N clients at once post an update of
 * a 1M-parameter model to the coordinator CLI (its own process, tokens on);
 * updates a second, MB/s, latency to the 202 (retries after 503 included) and
 * the coordinator's peak memory.
 * @module
 */
import { join } from "node:path";
import { runIngest } from "../coordinator/testing/ingest_scenario.ts";
import { encodeSafetensors } from "../shared/wire/safetensors.ts";
import { dense, sequential } from "../shared/tasks/layers.ts";
import type { Row } from "./_row.ts";
import { elementCount } from "../shared/shape.ts";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/**
 * Rows for N = each of `counts` clients posting at once, then the last count
 * posting one at a time and 16 at a time (the same updates): each run against
 * the coordinator CLI and, from the same senders, against a bare Deno.serve
 * that only reads the bodies (bench/_bare_server.ts), the reference each
 * figure is divided by. Notes: p50/p99 time to the 202, the coordinator's
 * peak memory (and its ratio to the smallest count's), GET /v1/health p99.
 */
export async function ingestRows(
  counts: readonly number[] = [10, 100, 500],
  options: { maxUploads?: number } = {},
): Promise<Row[]> {
  const { maxUploads = 16 } = options;
  const rows: Row[] = [];
  const last = counts.at(-1)!;
  const plan = [
    ...counts.map((clients) => ({ clients, concurrency: clients })),
    { clients: last, concurrency: maxUploads },
    { clients: last, concurrency: 1 },
  ];
  let smallestPeak: number | null = null;
  for (const { clients, concurrency } of plan) {
    const bare = await runIngest({ clients, maxUploads, concurrency, target: "bare" });
    const r = await runIngest({ clients, maxUploads, concurrency });
    for (const run of [bare, r]) {
      if (run.unexpected.length > 0) throw new Error(`ingest: ${run.unexpected[0]}`);
    }
    const refused = (r.responses[503] ?? 0) + (r.responses[429] ?? 0);
    const rate = clients / r.seconds;
    const bareRate = clients / bare.seconds;
    if (concurrency === clients && smallestPeak === null) smallestPeak = r.peakMiB;
    const memory = r.peakMiB === null
      ? "?"
      : `${r.peakMiB.toFixed(0)} MiB${
        smallestPeak !== null && concurrency === clients && clients !== counts[0]
          ? ` (x${(r.peakMiB / smallestPeak).toFixed(2)} of ${counts[0]} clients)`
          : ""
      }`;
    rows.push({
      name: concurrency === 1
        ? `ingest, ${clients} clients x 1M params, one after another`
        : concurrency === clients
        ? `ingest, ${clients} clients x 1M params, all at once`
        : `ingest, ${clients} clients x 1M params, ${concurrency} at a time`,
      value: rate,
      unit: "up/s",
      note: `bare server ${bareRate.toFixed(1)} up/s, ratio ${(rate / bareRate).toFixed(2)}; ${
        ((r.updateBytes * clients) / 1e6 / r.seconds).toFixed(0)
      } MB/s; to the 202 p50 ${percentile(r.latencies, 0.5).toFixed(2)} s, p99 ${
        percentile(r.latencies, 0.99).toFixed(2)
      } s; ${refused} x 503/429; coordinator peak ${memory}; GET /v1/health p99 ${
        (percentile(r.health, 0.99) * 1000).toFixed(0)
      } ms (bare ${(percentile(bare.health, 0.99) * 1000).toFixed(0)} ms)`,
    });
  }
  return rows;
}

/**
 * The federation alone, in this process (no HTTP): N 1M-parameter updates
 * accepted one after another, their bytes in SQLite blobs (each stored and
 * synced on the event loop) against the spool (written and synced
 * asynchronously, with group commit); updates a second and the longest the
 * event loop went without running a 5 ms timer.
 */
export async function federationIngestRows(count = 40): Promise<Row[]> {
  const { Federation } = await import("../coordinator/federation/federation.ts");
  const { StateStore } = await import("../coordinator/storage/state_store.ts");
  const { RunStorage } = await import("../coordinator/storage/run_storage.ts");
  const { buildModel } = await import("../shared/model/model.ts");
  const { TaskConfigSchema } = await import("../shared/schemas/mod.ts");
  const task = TaskConfigSchema.parse({
    id: "ingest",
    model: { topology: sequential("ingest", [dense("wide", 1000, "linear", [1000])]) },
    input: { shape: [1000], labels: Array.from({ length: 1000 }, (_, i) => `c${i}`) },
    rounds: { total: 1, targetClients: count, minClients: count, timeoutSeconds: 3600 },
    training: { evaluate: false },
  });
  const { ValidatePool } = await import("../coordinator/ingest/validate_pool.ts");
  const figures: Record<string, { rate: number; stall: number }> = {};
  for (const storage of ["blob", "spool", "spool+worker"] as const) {
    const dir = await Deno.makeTempDir({ prefix: "federation-ingest-" });
    const store = StateStore.open(dir);
    const runStorage = await RunStorage.open({
      state: store,
      dir: join(dir, "spool"),
      taskId: task.id,
      config: JSON.stringify(task),
    });
    const validator = storage === "spool+worker" ? new ValidatePool() : undefined;
    const model = await buildModel(task.model.topology);
    const federation = await Federation.create({ task, model, storage: runStorage, validator });
    const bodies = Array.from({ length: count }, (_, i) =>
      encodeSafetensors(
        new Map(federation.trainable.map((w) => [w.name, {
          shape: w.shape,
          data: new Float32Array(elementCount(w.shape)).fill(0.001 * (i + 1)),
        }])),
        { round: "1", baseVersion: "0", numLabeled: "1", numUnlabeled: "0", clientId: `c${i}` },
      ));
    let last = performance.now();
    let stall = 0;
    const tick = setInterval(() => {
      const now = performance.now();
      stall = Math.max(stall, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    // Blobs: each update's bytes in its SQLite row, synchronously (submit); else the spool.
    for (const body of bodies) {
      if (storage === "blob") federation.submit(body);
      else await federation.accept(body);
    }
    const seconds = (performance.now() - started) / 1000;
    stall = Math.max(stall, performance.now() - last);
    clearInterval(tick);
    await federation.settled();
    federation.close();
    validator?.close();
    model.dispose();
    store.close();
    await Deno.remove(dir, { recursive: true });
    figures[storage] = { rate: count / seconds, stall };
  }
  const blob = figures.blob!;
  return (["spool", "spool+worker"] as const).map((storage) => {
    const f = figures[storage]!;
    return {
      name: `federation alone, ${count} x 1M params one after another, ${storage}`,
      value: f.rate,
      unit: "up/s",
      note: `SQLite blobs ${blob.rate.toFixed(1)} up/s (x${(f.rate / blob.rate).toFixed(2)}); ` +
        `longest event-loop stall ${f.stall.toFixed(0)} ms (blobs ${blob.stall.toFixed(0)} ms)`,
    };
  });
}
