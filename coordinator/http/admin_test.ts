import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
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
  type Status,
  StatusSchema,
  TaskResponseSchema,
  UpdateAcceptedSchema,
} from "../../shared/schemas/mod.ts";
import { mnistMlpTopology } from "../../shared/tasks/mnist_mlp.ts";
import type { TfjsArtifacts } from "../../shared/model/tfjs_format.ts";
import { createApp } from "./app.ts";
import type { Federation } from "../federation/federation.ts";
import { resolveTaskFile } from "../cli/load_task.ts";
import { TaskRegistry } from "../federation/registry.ts";
import { elementCount } from "../../shared/shape.ts";

await startBackend("wasm");

/** The task body of POST /v1/tasks used throughout: one round of one client. */
const TASK_B = { id: "b", model: { builtin: "mnist-mlp" }, rounds: { total: 1, targetClients: 1 } };

interface Harness {
  registry: TaskRegistry;
  app: Hono;
  runDir?: string;
}

interface HarnessOptions {
  /** Ids of tasks added (as built-in mnist-mlp) before the test; the first is the default. */
  tasks?: string[];
  /** Give the registry a temporary run dir. */
  runDir?: boolean;
  /** Folder relative paths of POSTed tasks resolve against. */
  baseDir?: string;
}

/** Runs `fn` against a registry serving `tasks` and tears everything down. */
async function withApp(
  options: HarnessOptions,
  fn: (h: Harness) => Promise<void>,
): Promise<void> {
  const runDir = options.runDir ? await Deno.makeTempDir({ prefix: "admin_test-" }) : undefined;
  const registry = new TaskRegistry({ runDir });
  const errors: unknown[] = [];
  try {
    for (const id of options.tasks ?? ["a"]) {
      await registry.add(
        await resolveTaskFile({ id, model: { builtin: "mnist-mlp" } }, { baseDir: "." }),
      );
    }
    const app = createApp(registry, {
      onInternalError: (e) => errors.push(e),
      baseDir: options.baseDir,
    });
    await fn({ registry, app, runDir });
    assert.deepEqual(errors, [], "no internal error");
  } finally {
    await registry.close();
    if (runDir) await Deno.remove(runDir, { recursive: true });
  }
}

function postJson(app: Hono, path: string, body: unknown): Promise<Response> {
  return Promise.resolve(app.request(path, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { "Content-Type": "application/json" },
  }));
}

function post(app: Hono, path: string): Promise<Response> {
  return Promise.resolve(app.request(path, { method: "POST" }));
}

/** An update for the federation's open round: one tensor per trainable weight. */
function updateBody(
  federation: Federation,
  clientId: string,
  fill = 0.01,
): Uint8Array {
  const tensors = new Map<string, Float32Tensor>(
    federation.trainable.map(({ name, shape }) => [name, {
      shape: [...shape],
      data: new Float32Array(elementCount(shape)).fill(fill),
    }]),
  );
  return encodeSafetensors(tensors, {
    round: String(federation.round),
    baseVersion: String(federation.version),
    numLabeled: "4",
    numUnlabeled: "12",
    clientId,
  });
}

function postUpdate(app: Hono, path: string, body: Uint8Array): Promise<Response> {
  return Promise.resolve(app.request(path, {
    method: "POST",
    body: body as Uint8Array<ArrayBuffer>,
    headers: { "Content-Type": "application/octet-stream" },
  }));
}

async function json(res: Response, status: number): Promise<unknown> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${text}`);
  return JSON.parse(text);
}

async function assertError(res: Response, status: number, code: string, message?: RegExp) {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${text}`);
  assert.match(res.headers.get("Content-Type") ?? "", /application\/json/);
  const body = ErrorResponseSchema.parse(JSON.parse(text));
  assert.equal(body.error.code, code);
  if (message) assert.match(body.error.message, message);
}

async function getStatus(app: Hono, path: string): Promise<Status> {
  return StatusSchema.parse(await json(await app.request(path), 200));
}

async function getBytes(app: Hono, path: string): Promise<Uint8Array> {
  const res = await app.request(path);
  assert.equal(res.status, 200, `GET ${path}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function listTasks(app: Hono) {
  return (await json(await app.request("/v1/tasks"), 200) as {
    tasks: { id: string; default: boolean; phase: string }[];
  }).tasks;
}

/** Creates TASK_B over HTTP and returns its federation. */
async function createB(h: Harness, body: unknown = TASK_B): Promise<Federation> {
  const status = StatusSchema.parse(await json(await postJson(h.app, "/v1/tasks", body), 201));
  assert.equal(status.taskId, "b");
  return h.registry.get("b");
}

Deno.test("GET /v1/tasks lists the tasks in order, the first as default", async () => {
  await withApp({ tasks: ["a", "c"] }, async ({ app }) => {
    const body = await json(await app.request("/v1/tasks"), 200);
    assert.deepEqual(body, {
      tasks: [
        { id: "a", round: 1, version: 0, phase: "training", totalRounds: 10, default: true },
        { id: "c", round: 1, version: 0, phase: "training", totalRounds: 10, default: false },
      ],
    });
  });
});

Deno.test("GET /v1/tasks answers an empty list when no task is served", async () => {
  await withApp({ tasks: [] }, async ({ app }) => {
    assert.deepEqual(await json(await app.request("/v1/tasks"), 200), { tasks: [] });
    await assertError(await app.request("/v1/task"), 404, "not_found", /No task is served/);
    await assertError(await app.request("/v1/status"), 404, "not_found");
  });
});

Deno.test("POST /v1/tasks creates a task from a JSON body with 201", async () => {
  await withApp({}, async (h) => {
    const res = await postJson(h.app, "/v1/tasks", TASK_B);
    const status = StatusSchema.parse(await json(res, 201));
    assert.equal(status.taskId, "b");
    assert.equal(status.round, 1);
    assert.equal(status.version, 0);
    assert.equal(status.phase, "training");
    assert.equal(status.totalRounds, 1);
    assert.equal(status.targetClients, 1);
    assert.deepEqual(status.history.map((m) => m.round), [0]);

    assert.deepEqual(
      (await listTasks(h.app)).map(({ id, default: d }) => [id, d]),
      [["a", true], ["b", false]],
    );
    const task = TaskResponseSchema.parse(await json(await h.app.request("/v1/tasks/b/task"), 200));
    assert.equal(task.id, "b");
    assert.equal(task.rounds.total, 1);
    assert.equal(task.rounds.targetClients, 1);
    assert.equal(task.phase, "training");
    assert.deepEqual(task.input.shape, [784]);
    assert.deepEqual(task.weights.map((w) => w.name), [
      "dense1/kernel",
      "dense1/bias",
      "dense2/kernel",
      "dense2/bias",
      "logits/kernel",
      "logits/bias",
    ]);
    const model = decodeSafetensors(await getBytes(h.app, "/v1/tasks/b/model"));
    assert.equal(model.metadata.taskId, "b");
  });
});

Deno.test("POST /v1/tasks creates a task with frozen layers, which updates leave out", async () => {
  await withApp({}, async (h) => {
    await createB(h, { ...TASK_B, model: { builtin: "mnist-mlp", frozen: ["dense*"] } });
    const task = TaskResponseSchema.parse(await json(await h.app.request("/v1/tasks/b/task"), 200));
    assert.deepEqual(task.weights.map((w) => w.name), ["logits/kernel", "logits/bias"]);
  });
});

Deno.test("POST /v1/tasks with an id that exists answers 409 task_exists", async () => {
  await withApp({}, async (h) => {
    await createB(h);
    const before = await getStatus(h.app, "/v1/tasks/b/status");
    await assertError(
      await postJson(h.app, "/v1/tasks", { ...TASK_B, rounds: { total: 7 } }),
      409,
      "task_exists",
      /"b"/,
    );
    await assertError(
      await postJson(h.app, "/v1/tasks", { id: "a", model: { builtin: "mnist-cnn" } }),
      409,
      "task_exists",
      /"a"/,
    );
    assert.deepEqual((await listTasks(h.app)).map((t) => t.id), ["a", "b"]);
    assert.deepEqual(await getStatus(h.app, "/v1/tasks/b/status"), before);
  });
});

Deno.test("POST /v1/tasks with an invalid task answers 400 invalid_task naming the field", async (t) => {
  await withApp({}, async (h) => {
    const cases: [string, unknown, RegExp][] = [
      ["a bad round count", { ...TASK_B, rounds: { total: 0 } }, /rounds\.total/],
      ["no id", { model: { builtin: "mnist-mlp" } }, /\bid\b/],
      ["a bad id", { ...TASK_B, id: "Not An Id" }, /\bid: id must be/],
      ["an unknown field", { ...TASK_B, epochs: 3 }, /Unrecognized key: "epochs"/],
      ["an unknown built-in", { ...TASK_B, model: { builtin: "mnist-xyz" } }, /model\.builtin/],
      ["no model source", { ...TASK_B, model: {} }, /model: give exactly one/],
      [
        "an unknown frozen layer",
        { ...TASK_B, model: { builtin: "mnist-mlp", frozen: ["conv9"] } },
        /model\.frozen.*"conv9"/,
      ],
      [
        "a topology without input",
        { ...TASK_B, model: { topology: mnistMlpTopology() } },
        /input: required/,
      ],
      ["a missing pretrained model", { ...TASK_B, model: { pretrained: "nope/" } }, /pretrained/],
      ["a JSON array", [TASK_B], /\(root\)/],
      ["JSON null", null, /\(root\)/],
    ];
    for (const [name, body, message] of cases) {
      await t.step(name, async () => {
        await assertError(
          await postJson(h.app, "/v1/tasks", JSON.stringify(body)),
          400,
          "invalid_task",
          message,
        );
      });
    }
    assert.deepEqual((await listTasks(h.app)).map((t) => t.id), ["a"], "nothing was added");
  });
});

Deno.test("POST /v1/tasks with a body that is not JSON answers 400", async () => {
  await withApp({}, async (h) => {
    await assertError(
      await postJson(h.app, "/v1/tasks", "id: b\nmodel: {builtin: mnist-mlp}\n"),
      400,
      "invalid_task",
      /not JSON/,
    );
    await assertError(await postJson(h.app, "/v1/tasks", ""), 400, "invalid_task");
    assert.deepEqual((await listTasks(h.app)).map((t) => t.id), ["a"]);
  });
});

Deno.test("POST /v1/tasks with weights that do not fit the topology answers 400", async () => {
  const dir = await Deno.makeTempDir({ prefix: "admin_test-" });
  try {
    const small = await buildModel(mnistMlpTopology({ hidden: [128, 256] }));
    const weights = readWeights(small);
    small.dispose();
    await Deno.writeFile(join(dir, "small.safetensors"), encodeSafetensors(weights));
    await withApp({ baseDir: dir }, async (h) => {
      const before = tf.memory().numTensors;
      await assertError(
        await postJson(h.app, "/v1/tasks", {
          ...TASK_B,
          model: { builtin: "mnist-mlp", weights: "small.safetensors" },
        }),
        400,
        "invalid_task",
        /shape mismatch.*"dense1\/kernel"/,
      );
      assert.equal(tf.memory().numTensors, before, "the rejected model is disposed");
      assert.deepEqual((await listTasks(h.app)).map((t) => t.id), ["a"]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("POST /v1/tasks resolves relative paths against the app's baseDir", async () => {
  const dir = await Deno.makeTempDir({ prefix: "admin_test-" });
  try {
    const seeded = await buildModel(mnistMlpTopology(), { seed: 11 });
    const weights = readWeights(seeded);
    seeded.dispose();
    await Deno.writeFile(join(dir, "init.safetensors"), encodeSafetensors(weights));
    await withApp({ baseDir: dir }, async (h) => {
      await createB(h, { ...TASK_B, model: { builtin: "mnist-mlp", weights: "init.safetensors" } });
      const { tensors } = decodeSafetensors(await getBytes(h.app, "/v1/tasks/b/model"));
      assert.deepEqual([...tensors.keys()].sort(), [...weights.keys()].sort());
      for (const [name, tensor] of weights) assert.deepEqual(tensors.get(name), tensor, name);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("POST /v1/tasks with a body over 16 MiB answers 413", async () => {
  await withApp({}, async (h) => {
    const body = JSON.stringify({ ...TASK_B, pad: "x".repeat(16 * 1024 * 1024) });
    await assertError(await postJson(h.app, "/v1/tasks", body), 413, "payload_too_large");
    assert.deepEqual((await listTasks(h.app)).map((t) => t.id), ["a"]);
  });
});

Deno.test("POST /v1/tasks/:id/pause refuses updates with 409 task_paused until resumed", async () => {
  await withApp({}, async (h) => {
    const b = await createB(h);

    const paused = StatusSchema.parse(await json(await post(h.app, "/v1/tasks/b/pause"), 200));
    assert.equal(paused.phase, "paused");
    assert.equal((await getStatus(h.app, "/v1/tasks/b/status")).phase, "paused");
    const task = TaskResponseSchema.parse(await json(await h.app.request("/v1/tasks/b/task"), 200));
    assert.equal(task.phase, "paused");
    assert.equal((await listTasks(h.app)).find((t) => t.id === "b")?.phase, "paused");

    const before = await getStatus(h.app, "/v1/tasks/b/status");
    const model = await getBytes(h.app, "/v1/tasks/b/model");
    await assertError(
      await postUpdate(h.app, "/v1/tasks/b/updates", updateBody(b, "c1")),
      409,
      "task_paused",
      /"b" is paused/,
    );
    await b.settled();
    assert.deepEqual(await getStatus(h.app, "/v1/tasks/b/status"), before, "nothing changed");
    assert.deepEqual(await getBytes(h.app, "/v1/tasks/b/model"), model);

    // Pausing again is harmless; the default task is not paused.
    assert.equal(
      StatusSchema.parse(await json(await post(h.app, "/v1/tasks/b/pause"), 200)).phase,
      "paused",
    );
    assert.equal((await getStatus(h.app, "/v1/status")).phase, "training");

    const resumed = StatusSchema.parse(await json(await post(h.app, "/v1/tasks/b/resume"), 200));
    assert.equal(resumed.phase, "training");
    const accepted = UpdateAcceptedSchema.parse(
      await json(await postUpdate(h.app, "/v1/tasks/b/updates", updateBody(b, "c1")), 202),
    );
    assert.deepEqual(accepted, { accepted: true, round: 1, received: 1, targetClients: 1 });
    await b.settled();
    await b.finished;
    const done = await getStatus(h.app, "/v1/tasks/b/status");
    assert.equal(done.phase, "finished");
    assert.equal(done.version, 1);
    assert.deepEqual(done.clients.map((c) => [c.id, c.updatesAccepted]), [["c1", 1]]);
    assert.deepEqual(done.history.map((m) => [m.round, m.clients]), [[0, 0], [1, 1]]);
  });
});

Deno.test("POST /v1/tasks/:id/resume of a task that is not paused answers 409", async () => {
  await withApp({}, async (h) => {
    await assertError(await post(h.app, "/v1/tasks/a/resume"), 409, "invalid_phase", /training/);
    assert.equal((await getStatus(h.app, "/v1/status")).phase, "training");
  });
});

Deno.test("POST /v1/tasks/:id/stop stops the task: finished resolves, updates get 409", async () => {
  await withApp({}, async (h) => {
    const b = await createB(h, { ...TASK_B, rounds: { total: 3, targetClients: 2 } });
    UpdateAcceptedSchema.parse(
      await json(await postUpdate(h.app, "/v1/tasks/b/updates", updateBody(b, "c1")), 202),
    );
    const stopped = StatusSchema.parse(await json(await post(h.app, "/v1/tasks/b/stop"), 200));
    assert.equal(stopped.phase, "stopped");
    assert.equal(stopped.received, 0, "the open round's updates are dropped");
    assert.equal(stopped.version, 0);
    assert.equal(stopped.finalModel, null, "no run dir, no final model");
    await b.finished;

    await assertError(
      await postUpdate(h.app, "/v1/tasks/b/updates", updateBody(b, "c2")),
      409,
      "task_stopped",
      /"b" is stopped/,
    );
    assert.equal((await listTasks(h.app)).find((t) => t.id === "b")?.phase, "stopped");
    // Stopping again is harmless; a stopped task can neither pause nor resume.
    assert.equal(
      StatusSchema.parse(await json(await post(h.app, "/v1/tasks/b/stop"), 200)).phase,
      "stopped",
    );
    await assertError(await post(h.app, "/v1/tasks/b/pause"), 409, "invalid_phase", /stopped/);
    await assertError(await post(h.app, "/v1/tasks/b/resume"), 409, "invalid_phase", /stopped/);
    // The other task is untouched.
    assert.equal((await getStatus(h.app, "/v1/status")).phase, "training");
  });
});

Deno.test("POST /v1/tasks/:id/stop stops a paused task", async () => {
  await withApp({}, async (h) => {
    const b = await createB(h);
    await json(await post(h.app, "/v1/tasks/b/pause"), 200);
    const stopped = StatusSchema.parse(await json(await post(h.app, "/v1/tasks/b/stop"), 200));
    assert.equal(stopped.phase, "stopped");
    await b.finished;
  });
});

Deno.test("the task routes answer 404 JSON for an unknown task id", async (t) => {
  await withApp({}, async (h) => {
    const requests: [string, string][] = [
      ["GET", "/v1/tasks/zzz/task"],
      ["GET", "/v1/tasks/zzz/status"],
      ["GET", "/v1/tasks/zzz/model"],
      ["GET", "/v1/tasks/zzz/model/model.json"],
      ["GET", "/v1/tasks/zzz/model/weights.bin"],
      ["POST", "/v1/tasks/zzz/pause"],
      ["POST", "/v1/tasks/zzz/resume"],
      ["POST", "/v1/tasks/zzz/stop"],
      ["POST", "/v1/tasks/zzz/updates"],
    ];
    for (const [method, path] of requests) {
      await t.step(`${method} ${path}`, async () => {
        const body = method === "POST" && path.endsWith("updates")
          ? updateBody(h.registry.get("a"), "c1") as Uint8Array<ArrayBuffer>
          : undefined;
        await assertError(
          await h.app.request(path, { method, body }),
          404,
          "not_found",
          /No task "zzz"/,
        );
      });
    }
    assert.equal((await getStatus(h.app, "/v1/status")).received, 0);
  });
});

Deno.test("the default paths /v1/task, /v1/status and /v1/updates address the first task", async () => {
  await withApp({}, async (h) => {
    const b = await createB(h);
    const task = TaskResponseSchema.parse(await json(await h.app.request("/v1/task"), 200));
    assert.equal(task.id, "a");
    assert.equal(task.rounds.total, 10);
    assert.equal((await getStatus(h.app, "/v1/status")).taskId, "a");
    assert.equal(decodeSafetensors(await getBytes(h.app, "/v1/model")).metadata.taskId, "a");

    const a = h.registry.get("a");
    await json(await postUpdate(h.app, "/v1/updates", updateBody(a, "c1")), 202);
    assert.equal((await getStatus(h.app, "/v1/status")).received, 1);
    assert.equal((await getStatus(h.app, "/v1/tasks/b/status")).received, 0);
    assert.equal(b.status().received, 0);

    // Pausing "a" by id pauses the default paths.
    await json(await post(h.app, "/v1/tasks/a/pause"), 200);
    await assertError(
      await postUpdate(h.app, "/v1/updates", updateBody(a, "c2")),
      409,
      "task_paused",
    );
  });
});

Deno.test("POST /v1/tasks on an empty registry makes the new task the default", async () => {
  await withApp({ tasks: [] }, async (h) => {
    await createB(h);
    assert.equal(
      TaskResponseSchema.parse(await json(await h.app.request("/v1/task"), 200)).id,
      "b",
    );
    assert.deepEqual(await listTasks(h.app), [
      { id: "b", round: 1, version: 0, phase: "training", totalRounds: 1, default: true },
    ]);
  });
});

/** Asserts `<runDir>/<id>/final/` holds the model GET /v1/tasks/<id>/model... serves. */
async function assertFinalModel(h: Harness, id: string, version: number): Promise<void> {
  assert.ok(h.runDir);
  const folder = join(h.runDir, id, "final");
  const status = await getStatus(h.app, `/v1/tasks/${id}/status`);
  assert.equal(status.finalModel, join(folder, "model.json"));
  assert.deepEqual(
    (await Array.fromAsync(Deno.readDir(folder))).map((e) => e.name).sort(),
    ["model.json", "model.safetensors", "weights.bin"],
  );

  const served = await getBytes(h.app, `/v1/tasks/${id}/model`);
  const file = await Deno.readFile(join(folder, "model.safetensors"));
  const fromFile = decodeSafetensors(file);
  const fromServer = decodeSafetensors(served);
  assert.equal(fromFile.metadata.taskId, id);
  assert.equal(fromFile.metadata.version, String(version));
  assert.deepEqual(fromFile.metadata, fromServer.metadata);
  assert.deepEqual([...fromFile.tensors.keys()], [...fromServer.tensors.keys()]);
  for (const [name, tensor] of fromServer.tensors) {
    assert.deepEqual(fromFile.tensors.get(name), tensor, name);
  }
  assert.deepEqual(file, served);

  const modelJson: TfjsArtifacts["modelJson"] = JSON.parse(
    await Deno.readTextFile(join(folder, "model.json")),
  );
  assert.deepEqual(
    modelJson,
    await json(await h.app.request(`/v1/tasks/${id}/model/model.json`), 200),
  );
  const bin = await Deno.readFile(join(folder, "weights.bin"));
  assert.deepEqual(bin, await getBytes(h.app, `/v1/tasks/${id}/model/weights.bin`));

  // tfjs loads the exported model with the same weights.
  const loaded = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest[0]!.weights,
    weightData: bin.slice().buffer,
  }));
  try {
    const weights = readWeights(loaded);
    for (const [name, tensor] of fromServer.tensors) {
      assert.deepEqual(weights.get(name), tensor, name);
    }
  } finally {
    loaded.dispose();
  }
}

Deno.test("a finished task writes <runDir>/<id>/final with the served model", async () => {
  await withApp({ runDir: true }, async (h) => {
    assert.ok(h.runDir);
    const b = await createB(h);
    assert.equal((await getStatus(h.app, "/v1/tasks/b/status")).finalModel, null);
    await Deno.stat(join(h.runDir, "b", "round-0000", "model.json"));
    await json(await postUpdate(h.app, "/v1/tasks/b/updates", updateBody(b, "c1", 0.02)), 202);
    await b.settled();
    await b.finished;
    assert.equal((await getStatus(h.app, "/v1/tasks/b/status")).phase, "finished");
    await Deno.stat(join(h.runDir, "b", "round-0001", "model.json"));
    await assertFinalModel(h, "b", 1);
    // The final model is round 1's checkpoint, not the initial weights.
    const final = await Deno.readFile(join(h.runDir, "b", "final", "weights.bin"));
    assert.deepEqual(final, await Deno.readFile(join(h.runDir, "b", "round-0001", "weights.bin")));
    assert.notDeepEqual(
      final,
      await Deno.readFile(join(h.runDir, "b", "round-0000", "weights.bin")),
    );
    // The default task has no final model yet.
    assert.equal((await getStatus(h.app, "/v1/status")).finalModel, null);
    await assert.rejects(Deno.stat(join(h.runDir, "a", "final")), Deno.errors.NotFound);
  });
});

Deno.test("a stopped task writes <runDir>/<id>/final with the served model", async () => {
  await withApp({ runDir: true }, async (h) => {
    const b = await createB(h, { ...TASK_B, rounds: { total: 5, targetClients: 1 } });
    await json(await postUpdate(h.app, "/v1/tasks/b/updates", updateBody(b, "c1", 0.03)), 202);
    // No settled(): stop waits for the round being closed, then stops round 2.
    const stopped = StatusSchema.parse(await json(await post(h.app, "/v1/tasks/b/stop"), 200));
    assert.equal(stopped.phase, "stopped");
    assert.ok(h.runDir);
    assert.equal(stopped.finalModel, join(h.runDir, "b", "final", "model.json"));
    assert.equal(stopped.round, 2);
    assert.equal(stopped.version, 1);
    await b.finished;
    await assertFinalModel(h, "b", 1);
  });
});

// POST /v1/tasks has no authentication and reads paths on the server: a
// "pretrained" path that is not JSON is echoed back in the error (V8's
// JSON.parse message quotes the start of the text), so any file the
// coordinator can read leaks its first bytes to any caller.
Deno.test({
  name: "POST /v1/tasks does not echo the contents of a server file in its error",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "admin_test-" });
    try {
      const secret = join(dir, "secret");
      await Deno.writeTextFile(secret, "hunter2");
      await withApp({}, async (h) => {
        const res = await postJson(h.app, "/v1/tasks", {
          id: "b",
          model: { pretrained: secret },
          input: { shape: [784], labels: ["a", "b"] },
        });
        const text = await res.text();
        assert.equal(res.status, 400, text);
        assert.ok(!text.includes("hunter"), text);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
