import assert from "node:assert/strict";
import type * as tf from "@tensorflow/tfjs";
import type { Hono } from "hono";
import { startBackend } from "../../client/training/backend.ts";
import { buildModel, readWeights } from "../../shared/model/model.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type Float32Tensor,
} from "../../shared/wire/safetensors.ts";
import {
  ErrorResponseSchema,
  StatusSchema,
  type TaskConfig,
  TaskResponseSchema,
  UpdateAcceptedSchema,
} from "../../shared/schemas/mod.ts";
import { mnistMlpTask } from "../../shared/tasks/mnist_mlp.ts";
import { createApp } from "./app.ts";
import { Federation } from "../federation/federation.ts";
import { TaskRegistry } from "../federation/registry.ts";
import { elementCount } from "../../shared/shape.ts";

await startBackend("wasm");

/** A registry whose default task is `federation`. */
function serving(federation: Federation): TaskRegistry {
  const registry = new TaskRegistry();
  registry.register(federation);
  return registry;
}

interface Harness {
  task: TaskConfig;
  model: tf.LayersModel;
  federation: Federation;
  app: Hono;
}

/** Runs `fn` against a fresh federation (no holdout, no run dir) and tears it down. */
async function withFederation(fn: (h: Harness) => Promise<void>): Promise<void> {
  const task = mnistMlpTask({
    rounds: { total: 2, targetClients: 2, minClients: 1, timeoutSeconds: 600 },
  });
  const model = await buildModel(task.model.topology);
  const errors: unknown[] = [];
  const federation = await Federation.create({ task, model, onError: (e) => errors.push(e) });
  const app = createApp(serving(federation), { onInternalError: (e) => errors.push(e) });
  try {
    await fn({ task, model, federation, app });
    await federation.settled();
    assert.deepEqual(errors, [], "no internal error");
  } finally {
    federation.close();
    model.dispose();
  }
}

type Metadata = Record<string, string>;

const META: Metadata = {
  round: "1",
  baseVersion: "0",
  numLabeled: "10",
  numUnlabeled: "90",
  clientId: "c1",
};

/** One delta tensor per trainable weight, value `fill(tensorIndex, elementIndex)`. */
function delta(
  federation: Federation,
  fill: (t: number, i: number) => number = (t, i) => 0.001 * (((t * 7 + i) % 11) - 5),
): Map<string, Float32Tensor> {
  return new Map(
    federation.trainable.map(({ name, shape }, t) => {
      const size = elementCount(shape);
      return [name, {
        shape: [...shape],
        data: Float32Array.from({ length: size }, (_, i) => fill(t, i)),
      }];
    }),
  );
}

function encode(
  tensors: Map<string, Float32Tensor>,
  overrides: Partial<Metadata> = {},
): Uint8Array {
  const metadata: Metadata = {};
  for (const [key, value] of Object.entries({ ...META, ...overrides })) {
    if (value !== undefined) metadata[key] = value;
  }
  return encodeSafetensors(tensors, metadata);
}

function post(app: Hono, body: Uint8Array, headers: HeadersInit = {}): Promise<Response> {
  return Promise.resolve(
    app.request("/v1/updates", {
      method: "POST",
      body: body as Uint8Array<ArrayBuffer>,
      headers: { "Content-Type": "application/octet-stream", ...headers },
    }),
  );
}

async function getBytes(app: Hono, path: string): Promise<Uint8Array> {
  const res = await app.request(path);
  assert.equal(res.status, 200, `GET ${path}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function status(app: Hono) {
  const res = await app.request("/v1/status");
  assert.equal(res.status, 200);
  return StatusSchema.parse(await res.json());
}

async function assertAccepted(res: Response, received: number) {
  assert.equal(res.status, 202, `expected 202, got ${res.status}: ${await res.clone().text()}`);
  const body = UpdateAcceptedSchema.parse(await res.json());
  assert.deepEqual(body, { accepted: true, round: body.round, received, targetClients: 2 });
  return body;
}

async function assertError(res: Response, statusCode: number, code: string, message?: RegExp) {
  const text = await res.text();
  assert.equal(res.status, statusCode, `expected ${statusCode}, got ${res.status}: ${text}`);
  assert.match(res.headers.get("Content-Type") ?? "", /application\/json/);
  const body = ErrorResponseSchema.parse(JSON.parse(text));
  assert.equal(body.error.code, code);
  if (message) assert.match(body.error.message, message);
  return body;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

Deno.test("GET /v1/health answers ok", async () => {
  await withFederation(async ({ app }) => {
    const res = await app.request("/v1/health");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
  });
});

Deno.test("GET /v1/task answers the task at round 1, version 0, with its weights", async () => {
  await withFederation(async ({ app, task, federation }) => {
    const res = await app.request("/v1/task");
    assert.equal(res.status, 200);
    const body = TaskResponseSchema.parse(await res.json());
    assert.equal(body.id, "mnist-mlp");
    assert.equal(body.round, 1);
    assert.equal(body.version, 0);
    assert.equal(body.phase, "training");
    assert.deepEqual(body.rounds, task.rounds);
    assert.deepEqual(body.aggregation, task.aggregation);
    assert.deepEqual(body.weights, federation.trainable);
    assert.deepEqual(body.weights, [
      { name: "dense1/kernel", shape: [784, 256] },
      { name: "dense1/bias", shape: [256] },
      { name: "dense2/kernel", shape: [256, 256] },
      { name: "dense2/bias", shape: [256] },
      { name: "logits/kernel", shape: [256, 10] },
      { name: "logits/bias", shape: [10] },
    ]);
  });
});

Deno.test("GET /v1/model answers the global weights as safetensors with an ETag", async (t) => {
  await withFederation(async ({ app, model, federation }) => {
    const res = await app.request("/v1/model");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("Content-Type"), "application/octet-stream");
    const etag = res.headers.get("ETag");
    assert.ok(etag, "ETag header");
    const { tensors, metadata } = decodeSafetensors(new Uint8Array(await res.arrayBuffer()));
    assert.equal(metadata.round, "1");
    assert.equal(metadata.version, "0");
    assert.equal(metadata.taskId, "mnist-mlp");
    const initial = readWeights(model);
    assert.deepEqual([...tensors.keys()], federation.weights.map((w) => w.name));
    for (const [name, tensor] of initial) {
      assert.deepEqual(tensors.get(name), tensor, name);
    }

    await t.step("If-None-Match with the ETag answers 304 without a body", async () => {
      const cached = await app.request("/v1/model", { headers: { "If-None-Match": etag } });
      assert.equal(cached.status, 304);
      assert.equal(cached.headers.get("ETag"), etag);
      assert.equal((await cached.arrayBuffer()).byteLength, 0);
    });

    await t.step("If-None-Match with another ETag answers 200 with the model", async () => {
      const other = await app.request("/v1/model", { headers: { "If-None-Match": '"12345"' } });
      assert.equal(other.status, 200);
      const bytes = new Uint8Array(await other.arrayBuffer());
      assert.equal(decodeSafetensors(bytes).metadata.version, "0");
    });
  });
});

Deno.test("GET /v1/model/model.json describes exactly the bytes of weights.bin", async () => {
  await withFederation(async ({ app, federation }) => {
    const res = await app.request("/v1/model/model.json");
    assert.equal(res.status, 200);
    const json = await res.json();
    assert.equal(json.format, "layers-model");
    assert.deepEqual(json.modelTopology, federation.task.model.topology);
    const groups = json.weightsManifest as {
      paths: string[];
      weights: { name: string; shape: number[]; dtype: string }[];
    }[];
    assert.equal(groups.length, 1);
    assert.deepEqual(groups[0]!.paths, ["weights.bin"]);
    const entries = groups.flatMap((g) => g.weights);
    assert.deepEqual(entries.map(({ name, shape }) => ({ name, shape })), federation.weights);
    assert.ok(entries.every((w) => w.dtype === "float32"));
    const size = entries.reduce((n, w) => n + elementCount(w.shape) * 4, 0);

    const bin = await getBytes(app, "/v1/model/weights.bin");
    assert.equal(bin.byteLength, size);
    // Same values as the safetensors answer, in manifest order.
    const { tensors } = decodeSafetensors(await getBytes(app, "/v1/model"));
    const floats = new Float32Array(bin.buffer, bin.byteOffset, bin.byteLength / 4);
    let offset = 0;
    for (const { name } of entries) {
      const data = tensors.get(name)!.data;
      assert.deepEqual(floats.subarray(offset, offset + data.length), data, name);
      offset += data.length;
    }
  });
});

Deno.test("POST /v1/updates accepts a valid update with 202", async () => {
  await withFederation(async ({ app, federation }) => {
    const res = await post(app, encode(delta(federation)));
    const body = await assertAccepted(res, 1);
    assert.deepEqual(body, { accepted: true, round: 1, received: 1, targetClients: 2 });
    const s = await status(app);
    assert.equal(s.round, 1);
    assert.equal(s.version, 0);
    assert.equal(s.phase, "training");
    assert.equal(s.received, 1);
    assert.deepEqual(s.clients.map((c) => [c.id, c.updatesAccepted]), [["c1", 1]]);
  });
});

Deno.test("POST /v1/updates rejects a second update from the same client in a round with 409", async () => {
  await withFederation(async ({ app, federation }) => {
    await assertAccepted(await post(app, encode(delta(federation))), 1);
    const model = await getBytes(app, "/v1/model");
    await assertError(
      await post(app, encode(delta(federation, () => 0.5))),
      409,
      "duplicate_update",
      /"c1"/,
    );
    const s = await status(app);
    assert.equal(s.received, 1);
    assert.equal(s.round, 1);
    assert.deepEqual(s.clients.map((c) => [c.id, c.updatesAccepted]), [["c1", 1]]);
    assert.ok(equalBytes(await getBytes(app, "/v1/model"), model));
  });
});

Deno.test("POST /v1/updates closes the round after targetClients with the weighted mean", async (t) => {
  await withFederation(async ({ app, task, model, federation }) => {
    const before = decodeSafetensors(await getBytes(app, "/v1/model")).tensors;
    const d1 = delta(federation, (k, i) => 0.01 * Math.sin(i * 0.37 + k));
    const d2 = delta(federation, (k, i) => 0.02 * Math.cos(i * 0.11 - k));
    const u1 = encode(d1, { clientId: "c1", numLabeled: "10", numUnlabeled: "90" });
    const u2 = encode(d2, { clientId: "c2", numLabeled: "30", numUnlabeled: "10", backend: "cpu" });

    await assertAccepted(await post(app, u1), 1);
    const accepted = await assertAccepted(await post(app, u2), 2);
    assert.equal(accepted.round, 1);
    await federation.settled();

    await t.step("status: round 2, version 1, two history lines", async () => {
      const s = await status(app);
      assert.equal(s.round, 2);
      assert.equal(s.version, 1);
      assert.equal(s.phase, "training");
      assert.equal(s.received, 0);
      assert.equal(s.totalRounds, 2);
      assert.deepEqual(s.history.map((h) => [h.round, h.version, h.clients]), [[0, 0, 0], [
        1,
        1,
        2,
      ]]);
      const line = s.history[1]!;
      assert.equal(line.numLabeled, 40);
      assert.equal(line.numUnlabeled, 100);
      assert.equal(line.bytesReceived, u1.byteLength + u2.byteLength);
      assert.equal(line.accuracy, null);
      assert.equal(line.checkpoint, null);
      const c2 = s.clients.find((c) => c.id === "c2");
      assert.equal(c2?.backend, "cpu");
    });

    await t.step("the global moved by the example-weighted mean of the deltas", async () => {
      const res = await app.request("/v1/model");
      const { tensors: after, metadata } = decodeSafetensors(
        new Uint8Array(await res.arrayBuffer()),
      );
      assert.equal(metadata.round, "2");
      assert.equal(metadata.version, "1");
      const aggregation = task.aggregation;
      if (aggregation.strategy !== "fedavg") throw new Error("the test task uses FedAvg");
      const { unlabeledWeight, serverLearningRate } = aggregation;
      const w1 = 10 + unlabeledWeight * 90;
      const w2 = 30 + unlabeledWeight * 10;
      let changed = 0;
      for (const { name } of federation.trainable) {
        const g = before.get(name)!.data;
        const a = after.get(name)!.data;
        const x1 = d1.get(name)!.data;
        const x2 = d2.get(name)!.data;
        assert.equal(a.length, g.length);
        for (let i = 0; i < g.length; i++) {
          const expected = g[i]! + serverLearningRate * (w1 * x1[i]! + w2 * x2[i]!) / (w1 + w2);
          if (Math.abs(a[i]! - expected) > 1e-6 * Math.max(1, Math.abs(expected))) {
            assert.fail(`${name}[${i}]: expected ${expected}, got ${a[i]} (was ${g[i]})`);
          }
          if (a[i] !== g[i]) changed++;
        }
      }
      assert.ok(changed > 0);
      // The tfjs model holds the same weights.
      for (const [name, tensor] of readWeights(model)) {
        assert.deepEqual(tensor.data, after.get(name)!.data, name);
      }
    });

    await t.step("the ETag changes with the version", async () => {
      const res = await app.request("/v1/model", { headers: { "If-None-Match": '"0"' } });
      assert.equal(res.status, 200);
      const etag = res.headers.get("ETag");
      assert.ok(etag && etag !== '"0"');
      await res.body?.cancel();
      const cached = await app.request("/v1/model", { headers: { "If-None-Match": etag } });
      assert.equal(cached.status, 304);
    });

    await t.step("GET /v1/task answers round 2, version 1", async () => {
      const body = TaskResponseSchema.parse(await (await app.request("/v1/task")).json());
      assert.equal(body.round, 2);
      assert.equal(body.version, 1);
    });

    await t.step("weights.bin follows the new global", async () => {
      const bin = await getBytes(app, "/v1/model/weights.bin");
      const { tensors } = decodeSafetensors(await getBytes(app, "/v1/model"));
      const first = tensors.get("dense1/kernel")!.data;
      assert.deepEqual(new Float32Array(bin.buffer, bin.byteOffset, first.length), first);
    });

    const current = await getBytes(app, "/v1/model");

    await t.step("an update for round 1 is now stale (409)", async () => {
      await assertError(
        await post(app, encode(delta(federation), { clientId: "c3" })),
        409,
        "stale_update",
        /round 1 is closed/,
      );
    });

    await t.step("an update for round 2 on base version 0 is stale (409)", async () => {
      await assertError(
        await post(
          app,
          encode(delta(federation), { round: "2", baseVersion: "0", clientId: "c3" }),
        ),
        409,
        "stale_update",
        /base version 0/,
      );
    });

    await t.step("an update for round 3, not opened yet, is invalid (400)", async () => {
      await assertError(
        await post(
          app,
          encode(delta(federation), { round: "3", baseVersion: "1", clientId: "c3" }),
        ),
        400,
        "invalid_update",
        /round 3 has not opened/,
      );
    });

    await t.step("the rejected updates changed nothing", async () => {
      const s = await status(app);
      assert.equal(s.round, 2);
      assert.equal(s.version, 1);
      assert.equal(s.received, 0);
      assert.ok(!s.clients.some((c) => c.id === "c3"));
      assert.ok(equalBytes(await getBytes(app, "/v1/model"), current));
    });

    await t.step("c1 may send again in round 2", async () => {
      await assertAccepted(
        await post(app, encode(delta(federation), { round: "2", baseVersion: "1" })),
        1,
      );
    });
  });
});

Deno.test("POST /v1/updates finishes the run after the last round", async () => {
  await withFederation(async ({ app, federation }) => {
    for (const [round, base] of [["1", "0"], ["2", "1"]] as const) {
      for (const clientId of ["a", "b"]) {
        const meta = { round, baseVersion: base, clientId };
        const res = await post(app, encode(delta(federation), meta));
        assert.equal(res.status, 202, await res.text());
      }
      await federation.settled();
    }
    await federation.finished;
    const s = await status(app);
    assert.equal(s.phase, "finished");
    assert.equal(s.version, 2);
    assert.deepEqual(s.history.map((h) => h.round), [0, 1, 2]);
    await assertError(
      await post(app, encode(delta(federation), { round: "2", baseVersion: "2", clientId: "z" })),
      409,
      "stale_update",
    );
  });
});

Deno.test("POST /v1/updates rejects an update on the wrong base version with 409", async () => {
  await withFederation(async ({ app, federation }) => {
    await assertError(
      await post(app, encode(delta(federation), { baseVersion: "1" })),
      409,
      "stale_update",
      /base version 1 is not the current version 0/,
    );
    assert.equal((await status(app)).received, 0);
  });
});

Deno.test("POST /v1/updates rejects each malformed update with 400 and changes nothing", async (t) => {
  await withFederation(async ({ app, federation }) => {
    // One accepted update first, so "unchanged" means received stays at 1.
    await assertAccepted(await post(app, encode(delta(federation))), 1);
    const model = await getBytes(app, "/v1/model");
    const specs = federation.trainable;
    const last = specs[specs.length - 1]!;

    const withValue = (value: number) => {
      const tensors = delta(federation);
      tensors.get("dense2/bias")!.data[3] = value;
      return encode(tensors, { clientId: "c2" });
    };
    const without = (key: string) =>
      encode(delta(federation), { clientId: "c2", [key]: undefined });

    const cases: [string, Uint8Array, RegExp][] = [
      [
        "garbage bytes",
        Uint8Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256),
        /safetensors/,
      ],
      ["too short for a header", Uint8Array.of(1, 2, 3), /safetensors.*shorter than 8 bytes/],
      [
        "missing tensor",
        encode(new Map([...delta(federation)].filter(([name]) => name !== last.name)), {
          clientId: "c2",
        }),
        new RegExp(`tensor "${last.name}" is missing`),
      ],
      [
        "extra tensor",
        encode(
          new Map([...delta(federation), ["extra/kernel", {
            shape: [2],
            data: Float32Array.of(1, 2),
          }]]),
          { clientId: "c2" },
        ),
        /tensor "extra\/kernel" is not a trainable weight/,
      ],
      [
        "wrong shape",
        encode(
          new Map(
            [...delta(federation)].map(([name, tensor]) =>
              name === "logits/kernel"
                ? [name, { shape: [10, 256], data: tensor.data }]
                : [name, tensor]
            ),
          ),
          { clientId: "c2" },
        ),
        /tensor "logits\/kernel" has shape \[10,256\], expected \[256,10\]/,
      ],
      ["NaN value", withValue(NaN), /tensor "dense2\/bias" holds "NaN" at index 3/],
      ["Infinity value", withValue(Infinity), /tensor "dense2\/bias" holds "Infinity" at index 3/],
      [
        "-Infinity value",
        withValue(-Infinity),
        /tensor "dense2\/bias" holds "-Infinity" at index 3/,
      ],
      ["metadata missing numLabeled", without("numLabeled"), /numLabeled/],
      ["metadata missing round", without("round"), /round/],
      [
        "numLabeled + numUnlabeled = 0",
        encode(delta(federation), { clientId: "c2", numLabeled: "0", numUnlabeled: "0" }),
        /numLabeled \+ numUnlabeled must be positive/,
      ],
      [
        "non-integer round",
        encode(delta(federation), { clientId: "c2", round: "1.5" }),
        /round must be a non-negative integer/,
      ],
      [
        "negative numUnlabeled",
        encode(delta(federation), { clientId: "c2", numUnlabeled: "-5" }),
        /numUnlabeled must be a non-negative integer/,
      ],
      [
        "invalid clientId",
        encode(delta(federation), { clientId: "c 2/../x" }),
        /clientId/,
      ],
    ];

    for (const [name, body, message] of cases) {
      await t.step(name, async () => {
        const error = await assertError(await post(app, body), 400, "invalid_update", message);
        assert.match(error.error.message, /^Cannot accept update: /);
        const s = await status(app);
        assert.equal(s.received, 1);
        assert.equal(s.round, 1);
        assert.equal(s.version, 0);
        assert.deepEqual(s.clients.map((c) => c.id), ["c1"]);
        assert.ok(equalBytes(await getBytes(app, "/v1/model"), model), "global model unchanged");
      });
    }

    await t.step("a valid update from the same client is still accepted afterwards", async () => {
      await assertAccepted(await post(app, encode(delta(federation), { clientId: "c2" })), 2);
      await federation.settled();
      assert.equal((await status(app)).version, 1);
    });
  });
});

Deno.test("POST /v1/updates rejects a body larger than maxUpdateBytes with 413", async (t) => {
  await withFederation(async ({ app, federation }) => {
    const max = federation.maxUpdateBytes();
    const valid = encode(delta(federation));
    assert.ok(valid.byteLength <= max, "a valid update fits the limit");

    await t.step("streamed body without Content-Length", async () => {
      const body = new Uint8Array(max + 1);
      body.set(valid);
      await assertError(
        await post(app, body),
        413,
        "payload_too_large",
        new RegExp(`${max} bytes`),
      );
    });

    await t.step("body announced by Content-Length", async () => {
      const body = new Uint8Array(max + 1);
      await assertError(
        await post(app, body, { "Content-Length": String(body.byteLength) }),
        413,
        "payload_too_large",
      );
    });

    await t.step("a body of exactly maxUpdateBytes is read and judged on its content", async () => {
      const body = new Uint8Array(max);
      await assertError(await post(app, body), 400, "invalid_update");
    });

    assert.equal((await status(app)).received, 0);
  });
});

Deno.test("unknown routes answer 404 with a JSON error", async (t) => {
  await withFederation(async ({ app }) => {
    // "/" is the dashboard now.
    const routes: [string, string][] = [["GET", "/v1/nope"], ["GET", "/nope"], [
      "DELETE",
      "/v1/model",
    ]];
    for (const [method, path] of routes) {
      await t.step(`${method} ${path}`, async () => {
        const res = await app.request(path, { method });
        const body = await assertError(res, 404, "not_found");
        assert.ok(body.error.message.includes(path), body.error.message);
      });
    }
  });
});

for (const strategy of ["fedavg", "fedavgm"] as const) {
  Deno.test(`POST /v1/updates after a failed round close applies the round's deltas only once (${strategy})`, async () => {
    // Closing round 1 fails (its checkpoint cannot be written); Federation's
    // contract is that the round is then retried. A retry must not apply the
    // same deltas a second time, nor count a second version, nor (FedAvgM)
    // advance the server momentum twice.
    const task = mnistMlpTask({
      rounds: { total: 2, targetClients: 2, minClients: 1, timeoutSeconds: 600 },
      aggregation: { strategy },
    });
    const model = await buildModel(task.model.topology);
    const runDir = await Deno.makeTempDir();
    const errors: unknown[] = [];
    const federation = await Federation.create({
      task,
      model,
      runDir,
      onError: (e) => errors.push(e),
    });
    const app = createApp(serving(federation));
    try {
      const before = decodeSafetensors(await getBytes(app, "/v1/model")).tensors;
      // Every client sends the same delta, so any weighted mean of them is 0.01.
      const same = delta(federation, () => 0.01);
      const update = (clientId: string, baseVersion: string) =>
        encode(same, { clientId, baseVersion, numLabeled: "1", numUnlabeled: "0" });

      // Break the run folder: a file where the folder should be.
      await Deno.remove(runDir, { recursive: true });
      await Deno.writeTextFile(runDir, "not a folder");
      await assertAccepted(await post(app, update("c1", "0")), 1);
      await assertAccepted(await post(app, update("c2", "0")), 2);
      await federation.settled();
      assert.equal(errors.length, 1, "the failed close was reported");
      assert.equal((await status(app)).round, 1, "round 1 is still open");

      // Repair the run folder; one more client joins on the version it is told.
      await Deno.remove(runDir);
      const { version } = TaskResponseSchema.parse(await (await app.request("/v1/task")).json());
      await assertAccepted(await post(app, update("c3", String(version))), 3);
      await federation.settled();

      const after = decodeSafetensors(await getBytes(app, "/v1/model")).tensors;
      const g = before.get("logits/bias")!.data;
      const a = after.get("logits/bias")!.data;
      for (let i = 0; i < g.length; i++) {
        assert.ok(
          Math.abs(a[i]! - (g[i]! + 0.01)) < 1e-6,
          `logits/bias[${i}]: expected ${g[i]! + 0.01}, got ${a[i]} (was ${g[i]})`,
        );
      }
      const s = await status(app);
      assert.equal(s.round, 2);
      assert.equal(s.version, 1, "one closed round is one new version");
    } finally {
      federation.close();
      model.dispose();
      await Deno.remove(runDir, { recursive: true }).catch(() => {});
    }
  });
}

Deno.test("CORS answers only configured origins; every answer has security headers", async () => {
  const app = createApp(new TaskRegistry(), { corsOrigins: ["https://lab.example"] });
  const allowed = await app.request("/v1/health", { headers: { Origin: "https://lab.example" } });
  assert.equal(allowed.headers.get("Access-Control-Allow-Origin"), "https://lab.example");
  const other = await app.request("/v1/health", { headers: { Origin: "https://evil.example" } });
  assert.equal(other.headers.get("Access-Control-Allow-Origin"), null);
  const preflight = await app.request("/v1/updates", {
    method: "OPTIONS",
    headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "POST" },
  });
  assert.equal(preflight.headers.get("Access-Control-Allow-Origin"), null);
  for (const res of [allowed, other]) {
    assert.equal(res.headers.get("X-Content-Type-Options"), "nosniff");
    assert.equal(res.headers.get("X-Frame-Options"), "SAMEORIGIN");
    assert.ok(res.headers.get("Referrer-Policy"));
  }
  const none = createApp(new TaskRegistry());
  const res = await none.request("/v1/health", { headers: { Origin: "https://lab.example" } });
  assert.equal(res.headers.get("Access-Control-Allow-Origin"), null);
});
