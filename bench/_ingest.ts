/**
 * End-to-end ingest over loopback HTTP: N clients at once post an update of
 * a 1M-parameter model to the coordinator CLI (its own process, tokens on);
 * updates a second, MB/s, latency to the 202 (retries after 503 included) and
 * the coordinator's peak memory.
 * @module
 */
import { runIngest } from "../coordinator/_ingest.ts";
import type { Row } from "./_row.ts";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/**
 * Rows for N = each of `counts` clients posting at once, then the last count
 * posting one at a time (the same updates, no concurrent connections).
 */
export async function ingestRows(
  counts: readonly number[] = [10, 100, 500],
  options: { maxUploads?: number } = {},
): Promise<Row[]> {
  const { maxUploads = 16 } = options;
  const rows: Row[] = [];
  const plan = [
    ...counts.map((clients) => ({ clients, concurrency: clients })),
    { clients: counts.at(-1)!, concurrency: 1 },
  ];
  for (const { clients, concurrency } of plan) {
    const r = await runIngest({ clients, maxUploads, concurrency });
    if (r.unexpected.length > 0) throw new Error(`ingest: ${r.unexpected[0]}`);
    const refused = (r.responses[503] ?? 0) + (r.responses[429] ?? 0);
    rows.push({
      name: concurrency === 1
        ? `ingest, ${clients} clients x 1M params, one after another`
        : `ingest, ${clients} clients x 1M params, ${maxUploads} uploads at once`,
      value: clients / r.seconds,
      unit: "up/s",
      note:
        `${((r.updateBytes * clients) / 1e6 / r.seconds).toFixed(0)} MB/s, latency p50 ${
          percentile(r.latencies, 0.5).toFixed(2)
        } s, p99 ${percentile(r.latencies, 0.99).toFixed(2)} s, ${refused} x 503/429, ` +
        `coordinator peak ${r.peakMiB?.toFixed(0) ?? "?"} MiB`,
    });
  }
  return rows;
}
