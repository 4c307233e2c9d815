import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { startBackend } from "../../client/training/backend.ts";
import { buildModel } from "../../shared/model/model.ts";
import { encodeSafetensors } from "../../shared/wire/safetensors.ts";
import { mnistMlpTask } from "../../shared/tasks/mnist_mlp.ts";
import { createApp } from "../http/app.ts";
import { Federation } from "../federation/federation.ts";
import { TaskRegistry } from "../federation/registry.ts";
import { elementCount } from "../../shared/shape.ts";

await startBackend("wasm");

interface Family {
  name: string;
  type: string;
  metrics: { labels?: Record<string, string>; value?: string; count?: string }[];
}

interface Scrape {
  families: Map<string, Family>;
  text: string;
}

/** Scrapes /metrics and parses it as the text exposition format. */
async function scrape(app: ReturnType<typeof createApp>): Promise<Scrape> {
  const response = await app.request("/metrics");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("Content-Type")!, /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  const families = parsePrometheusTextFormat(text) as Family[];
  return { families: new Map(families.map((f) => [f.name, f])), text };
}

/** The value of counter or gauge `name` whose labels include `labels` (0 when absent). */
function value({ families }: Scrape, name: string, labels: Record<string, string> = {}) {
  const metric = families.get(name)?.metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
  );
  return Number(metric?.value ?? 0);
}

/**
 * The observation count of histogram `name` with `labels` (the parser keeps
 * no labels of histograms, so it is read off the text).
 */
function count({ families, text }: Scrape, name: string, labels: Record<string, string>) {
  assert.equal(families.get(name)?.type, "HISTOGRAM");
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split("\n").find((l) =>
    l.startsWith(`${name}_count{`) && wanted.every((w) => l.includes(w))
  );
  return Number(line?.split(" ").at(-1) ?? 0);
}

Deno.test("/metrics parses as Prometheus text and its counters move as a round runs", async () => {
  const task = mnistMlpTask({
    rounds: { total: 2, targetClients: 1, minClients: 1, timeoutSeconds: 600 },
  });
  const model = await buildModel(task.model.topology);
  const federation = await Federation.create({ task, model });
  const registry = new TaskRegistry();
  registry.register(federation);
  const app = createApp(registry);
  try {
    const before = await scrape(app);
    assert.equal(before.families.get("fl_rounds_total")?.type, "COUNTER");
    assert.equal(before.families.get("fl_clients_connected")?.type, "GAUGE");
    assert.equal(value(before, "fl_rounds_total", { task: "mnist-mlp" }), 0);

    const tensors = new Map(federation.trainable.map(({ name, shape }) => [name, {
      shape: [...shape],
      data: new Float32Array(elementCount(shape)).fill(0.001),
    }]));
    const update = (round: number) =>
      encodeSafetensors(tensors, {
        round: String(round),
        baseVersion: String(round - 1),
        numLabeled: "5",
        numUnlabeled: "5",
        clientId: "c1",
      });
    const post = (body: Uint8Array) =>
      app.request("/v1/updates", {
        method: "POST",
        headers: { "Content-Type": "application/octet-stream" },
        body: body as Uint8Array<ArrayBuffer>,
      });
    const model1 = await app.request("/v1/model");
    const modelBytes = (await model1.arrayBuffer()).byteLength;
    const body = update(1);
    assert.equal((await post(body)).status, 202);
    await federation.settled();
    // Round 1 again: stale now.
    assert.equal((await post(body)).status, 202, "a resend is answered as the first time");
    assert.equal((await post(update(1).slice())).status, 202);
    const stale = encodeSafetensors(tensors, {
      round: "1",
      baseVersion: "0",
      numLabeled: "5",
      numUnlabeled: "6",
      clientId: "c2",
    });
    assert.equal((await post(stale)).status, 409);

    const after = await scrape(app);
    assert.equal(value(after, "fl_rounds_total", { task: "mnist-mlp" }), 1);
    assert.equal(value(after, "fl_updates_accepted_total", { task: "mnist-mlp" }), 3);
    assert.equal(
      value(after, "fl_updates_rejected_total", { task: "mnist-mlp", reason: "stale_update" }),
      1,
    );
    assert.equal(
      value(after, "fl_update_bytes_received_total", { task: "mnist-mlp" }),
      3 * body.byteLength + stale.byteLength,
    );
    assert.equal(value(after, "fl_model_bytes_sent_total"), modelBytes);
    assert.equal(count(after, "fl_round_duration_seconds", { task: "mnist-mlp" }), 1);
    assert.equal(count(after, "fl_aggregation_duration_seconds", { task: "mnist-mlp" }), 1);
    assert.equal(count(after, "fl_evaluation_duration_seconds", { task: "mnist-mlp" }), 0);
    assert.equal(value(after, "fl_clients_connected", { task: "mnist-mlp" }), 1);
    assert.equal(
      count(after, "fl_http_request_duration_seconds", {
        method: "POST",
        route: "/v1/updates",
        status: "202",
      }),
      3,
    );
    // A second scrape does not count the round again.
    assert.equal(value(await scrape(app), "fl_rounds_total", { task: "mnist-mlp" }), 1);
  } finally {
    federation.close();
    model.dispose();
  }
});
