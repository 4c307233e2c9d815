import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { startBackend } from "../../client/training/backend.ts";
import { buildModel, readWeights } from "../../shared/model/model.ts";
import { encodeSafetensors, type Float32Tensor } from "../../shared/wire/safetensors.ts";
import type { RoundMetrics } from "../../shared/schemas/mod.ts";
import { mnistMlpTask } from "../../shared/tasks/mnist_mlp.ts";
import { ApiError } from "../http/errors.ts";
import { Federation } from "./federation.ts";
import { type LoadedTask, resolveTaskFile, TaskFileError } from "../cli/load_task.ts";
import { TaskRegistry } from "./registry.ts";
import { elementCount } from "../../shared/shape.ts";

await startBackend("wasm");

/** A built-in mnist-mlp task called `id`. */
function task(id: string, rounds: Record<string, number> = {}): Promise<LoadedTask> {
  return resolveTaskFile({ id, model: { builtin: "mnist-mlp" }, rounds }, { baseDir: "." });
}

/** Runs `fn` with a registry and closes it afterwards. */
async function withRegistry(
  fn: (registry: TaskRegistry) => Promise<void>,
  registry = new TaskRegistry(),
): Promise<void> {
  try {
    await fn(registry);
  } finally {
    await registry.close();
  }
}

/** Asserts `fn` throws (or rejects with) an ApiError of `status` and `code`. */
async function assertApiError(
  fn: () => unknown,
  status: number,
  code: string,
  message?: RegExp,
): Promise<void> {
  let caught: unknown;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ApiError, `expected an ApiError, got ${caught}`);
  assert.equal(caught.status, status);
  assert.equal(caught.code, code);
  if (message) assert.match(caught.message, message);
}

function update(federation: Federation, clientId: string): Uint8Array {
  const tensors = new Map<string, Float32Tensor>(
    federation.trainable.map(({ name, shape }) => [name, {
      shape: [...shape],
      data: new Float32Array(elementCount(shape)).fill(0.01),
    }]),
  );
  return encodeSafetensors(tensors, {
    round: String(federation.round),
    baseVersion: String(federation.version),
    numLabeled: "2",
    numUnlabeled: "6",
    clientId,
  });
}

Deno.test("TaskRegistry.add() builds the task and opens its first round", async () => {
  await withRegistry(async (registry) => {
    const federation = await registry.add(await task("a", { total: 4 }));
    assert.equal(federation.task.id, "a");
    assert.equal(federation.round, 1);
    assert.equal(federation.version, 0);
    assert.equal(federation.status().phase, "training");
    assert.equal(federation.status().totalRounds, 4);
    assert.equal(federation.trainable.length, 6);
    assert.equal(registry.get("a"), federation);
  });
});

Deno.test("TaskRegistry makes the first task added the default", async () => {
  await withRegistry(async (registry) => {
    const a = await registry.add(await task("a"));
    const b = await registry.add(await task("b", { total: 2 }));
    assert.equal(registry.get(), a);
    assert.equal(registry.get("b"), b);
    assert.deepEqual(registry.list(), [
      { id: "a", round: 1, version: 0, phase: "training", totalRounds: 10, default: true },
      { id: "b", round: 1, version: 0, phase: "training", totalRounds: 2, default: false },
    ]);
  });
});

Deno.test("TaskRegistry.list() reflects each task's round, version and phase", async () => {
  await withRegistry(async (registry) => {
    await registry.add(await task("a"));
    const b = await registry.add(await task("b", { total: 3, targetClients: 1 }));
    b.submit(update(b, "c1"));
    await b.settled();
    b.pause();
    assert.deepEqual(registry.list().find((t) => t.id === "b"), {
      id: "b",
      round: 2,
      version: 1,
      phase: "paused",
      totalRounds: 3,
      default: false,
    });
    assert.equal(registry.list().find((t) => t.id === "a")?.phase, "training");
  });
});

Deno.test("TaskRegistry.add() refuses an id that exists with 409 task_exists", async () => {
  await withRegistry(async (registry) => {
    const a = await registry.add(await task("a"));
    const before = tf.memory().numTensors;
    await assertApiError(
      async () => await registry.add(await task("a", { total: 2 })),
      409,
      "task_exists",
      /"a"/,
    );
    assert.equal(tf.memory().numTensors, before, "nothing was built");
    assert.equal(registry.get("a"), a);
    assert.equal(registry.list().length, 1);
  });
});

Deno.test("TaskRegistry.add() keeps one of two concurrent adds of the same id", async () => {
  const before = tf.memory().numTensors;
  await withRegistry(async (registry) => {
    const [first, second] = await Promise.allSettled([
      task("same").then((t) => registry.add(t)),
      task("same").then((t) => registry.add(t)),
    ]);
    const results = [first, second];
    const fulfilled = results.filter((r) => r.status === "fulfilled");
    const rejected = results.filter((r) => r.status === "rejected");
    assert.equal(fulfilled.length, 1);
    assert.equal(rejected.length, 1);
    const reason = (rejected[0] as PromiseRejectedResult).reason;
    assert.ok(reason instanceof ApiError);
    assert.equal(reason.code, "task_exists");
    assert.equal(registry.list().length, 1);
    assert.equal(
      registry.get("same"),
      (fulfilled[0] as PromiseFulfilledResult<Federation>).value,
    );
  });
  assert.equal(tf.memory().numTensors, before, "the losing model is disposed too");
});

Deno.test("TaskRegistry.add() passes a TaskFileError through and adds nothing", async () => {
  await withRegistry(async (registry) => {
    const loaded = await task("bad");
    loaded.weights = new Map([["logits/bias", { shape: [11], data: new Float32Array(11) }]]);
    await assert.rejects(() => registry.add(loaded), TaskFileError);
    assert.deepEqual(registry.list(), []);
    await assertApiError(() => registry.get("bad"), 404, "not_found");
  });
});

Deno.test("TaskRegistry.get() answers 404 for an unknown id or an empty registry", async () => {
  await withRegistry(async (registry) => {
    await assertApiError(() => registry.get(), 404, "not_found", /No task is served/);
    await assertApiError(() => registry.get("x"), 404, "not_found", /No task "x"/);
    await registry.add(await task("a"));
    await assertApiError(() => registry.get("x"), 404, "not_found", /No task "x"/);
    assert.equal(registry.get().task.id, "a");
  });
});

Deno.test("TaskRegistry.register() serves a federation whose model stays the caller's", async () => {
  const config = mnistMlpTask({ rounds: { total: 2, targetClients: 1 } });
  const model = await buildModel(config.model.topology);
  const federation = await Federation.create({ task: config, model });
  try {
    const registry = new TaskRegistry();
    registry.register(federation);
    assert.equal(registry.get(), federation);
    assert.equal(registry.list()[0]?.default, true);
    await assertApiError(() => registry.register(federation), 409, "task_exists");
    await assertApiError(
      async () => await registry.add(await task("mnist-mlp")),
      409,
      "task_exists",
    );
    // A task added later is not the default.
    await registry.add(await task("b"));
    assert.equal(registry.get(), federation);
    await registry.close();
    // close() did not dispose the caller's model.
    assert.equal(readWeights(model).get("logits/bias")?.data.length, 10);
  } finally {
    federation.close();
    model.dispose();
  }
});

Deno.test("TaskRegistry.close() frees every model it built", async () => {
  const before = tf.memory().numTensors;
  const registry = new TaskRegistry();
  await registry.add(await task("a"));
  await registry.add(await task("b"));
  assert.ok(tf.memory().numTensors > before);
  await registry.close();
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(registry.list(), []);
});

Deno.test("TaskRegistry.close() waits for a round being closed", async () => {
  const rounds: [string, number][] = [];
  const registry = new TaskRegistry({ onRound: (id, m) => rounds.push([id, m.round]) });
  const federation = await registry.add(await task("a", { total: 2, targetClients: 1 }));
  // The update closes round 1, which goes on after submit() returns.
  federation.submit(update(federation, "c1"));
  await registry.close();
  assert.deepEqual(rounds, [["a", 0], ["a", 1]]);
  assert.equal(federation.version, 1);
});

Deno.test("TaskRegistry calls onRound with the task id and each round's metrics", async () => {
  const seen: [string, RoundMetrics][] = [];
  await withRegistry(
    async (registry) => {
      await registry.add(await task("a"));
      const b = await registry.add(await task("b", { total: 2, targetClients: 1 }));
      assert.deepEqual(seen.map(([id, m]) => [id, m.round]), [["a", 0], ["b", 0]]);
      b.submit(update(b, "c1"));
      await b.settled();
      const last = seen.at(-1);
      assert.ok(last);
      assert.equal(last[0], "b");
      assert.equal(last[1].round, 1);
      assert.equal(last[1].clients, 1);
      assert.equal(last[1].numLabeled, 2);
      assert.equal(last[1].numUnlabeled, 6);
    },
    new TaskRegistry({ onRound: (id, metrics) => seen.push([id, metrics]) }),
  );
});

Deno.test("TaskRegistry with a runDir checkpoints each task under <runDir>/<id>/", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "registry_test-" });
  try {
    await withRegistry(
      async (registry) => {
        await registry.add(await task("a"));
        const b = await registry.add(await task("b", { total: 1, targetClients: 1 }));
        const a0 = registry.get("a").status().history[0]?.checkpoint;
        assert.equal(a0, join(runDir, "a", "round-0000", "model.json"));
        assert.equal(
          b.status().history[0]?.checkpoint,
          join(runDir, "b", "round-0000", "model.json"),
        );
        await Deno.stat(join(runDir, "a", "round-0000", "weights.bin"));
        b.submit(update(b, "c1"));
        await b.settled();
        await b.finished;
        assert.equal(b.status().phase, "finished");
        assert.equal(b.status().finalModel, join(runDir, "b", "final", "model.json"));
        for (const file of ["model.json", "weights.bin", "model.safetensors"]) {
          await Deno.stat(join(runDir, "b", "final", file));
        }
        assert.equal(registry.get("a").status().finalModel, null);
      },
      new TaskRegistry({ runDir }),
    );
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test("TaskRegistry without a runDir writes no checkpoint", async () => {
  await withRegistry(async (registry) => {
    const b = await registry.add(await task("b", { total: 1, targetClients: 1 }));
    b.submit(update(b, "c1"));
    await b.settled();
    await b.finished;
    const status = b.status();
    assert.equal(status.finalModel, null);
    assert.deepEqual(status.history.map((m) => m.checkpoint), [null, null]);
  });
});
