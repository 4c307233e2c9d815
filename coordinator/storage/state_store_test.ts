import assert from "node:assert/strict";
import { join } from "node:path";
import { startBackend } from "../../client/training/backend.ts";
import { buildModel } from "../../shared/model/model.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type Float32Tensor,
} from "../../shared/wire/safetensors.ts";
import { mnistMlpTask } from "../../shared/tasks/mnist_mlp.ts";
import type { TaskConfig } from "../../shared/schemas/mod.ts";
import { Federation } from "../federation/federation.ts";
import { STATE_FILE, StateStore } from "./state_store.ts";
import { StateError } from "./storage.ts";
import { RunStorage } from "./run_storage.ts";
import { elementCount } from "../../shared/shape.ts";

await startBackend("wasm");

const task = mnistMlpTask({
  rounds: { total: 3, targetClients: 3, minClients: 3, timeoutSeconds: 600 },
});

function update(federation: Federation, clientId: string, value: number): Uint8Array {
  const tensors = new Map<string, Float32Tensor>(
    federation.trainable.map(({ name, shape }) => [name, {
      shape,
      data: new Float32Array(elementCount(shape)).fill(value),
    }]),
  );
  return encodeSafetensors(tensors, {
    round: String(federation.round),
    baseVersion: String(federation.version),
    numLabeled: "1",
    numUnlabeled: "0",
    clientId,
  });
}

/** A federation over the state in `dir`, as a restarted coordinator would build it. */
async function open(
  dir: string,
  config: TaskConfig = task,
): Promise<{ federation: Federation; done: () => void }> {
  const task = config;
  const store = StateStore.open(dir);
  const model = await buildModel(task.model.topology);
  const storage = await RunStorage.open({
    state: store,
    dir: join(dir, "spool"),
    taskId: task.id,
    config: JSON.stringify(task),
  });
  const federation = await Federation.create({ task, model, storage });
  return {
    federation,
    done: () => {
      federation.close();
      model.dispose();
      store.close();
    },
  };
}

Deno.test("a restarted federation resumes the open round with the updates it accepted", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // First life: two of three updates accepted, then the process "dies".
    const first = await open(dir);
    const a = update(first.federation, "a", 0.01);
    const answerA = first.federation.submit(a);
    first.federation.submit(update(first.federation, "b", 0.02));
    const global0 = decodeSafetensors(first.federation.globalModel().safetensors).tensors;
    first.done();

    // Second life: same round, both updates held; a resend of a is answered
    // as the first time; a different update from a is refused.
    const second = await open(dir);
    const f = second.federation;
    assert.equal(f.round, 1);
    assert.equal(f.version, 0);
    assert.equal(f.status().received, 2);
    assert.deepEqual(f.submit(a), answerA);
    assert.equal(f.status().received, 2);
    assert.throws(() => f.submit(update(f, "a", 0.5)), /already sent one/);
    f.submit(update(f, "c", 0.03));
    await f.settled();
    assert.equal(f.version, 1);
    const metrics = f.status().history.at(-1)!;
    assert.deepEqual(metrics.updates.map((u) => u.clientId), ["a", "b", "c"]);
    // FedAvg of 0.01, 0.02, 0.03 with equal weights moved every weight by 0.02.
    const moved = decodeSafetensors(f.globalModel().safetensors).tensors.get("logits/bias")!;
    const before = global0.get("logits/bias")!;
    assert.ok(moved.data.every((v, i) => Math.abs(v - before.data[i]! - 0.02) < 1e-6));
    // After the round closed, a resend of a still gets its first answer.
    assert.deepEqual(f.submit(a), answerA);
    second.done();

    // Third life: round 2, version 1, with the history of round 1.
    const third = await open(dir);
    assert.equal(third.federation.round, 2);
    assert.equal(third.federation.version, 1);
    assert.equal(third.federation.status().received, 0);
    assert.deepEqual(third.federation.status().history.map((h) => h.round), [0, 1]);
    assert.deepEqual(
      decodeSafetensors(third.federation.globalModel().safetensors).tensors.get("logits/bias")!
        .data,
      moved.data,
    );
    third.done();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("StateStore refuses a foreign folder and a damaged state file, changing nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "notes.txt"), "someone else's files");
    assert.throws(
      () => StateStore.open(dir),
      (e) => e instanceof StateError && /not this coordinator's state/.test(e.message),
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["notes.txt"]);

    await Deno.remove(join(dir, "notes.txt"));
    const garbage = new TextEncoder().encode("this is not a database ".repeat(100));
    await Deno.writeFile(join(dir, STATE_FILE), garbage);
    assert.throws(
      () => StateStore.open(dir),
      (e) => e instanceof StateError && /damaged or foreign|not this/.test(e.message),
    );
    assert.deepEqual(await Deno.readFile(join(dir, STATE_FILE)), garbage);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("StateStore refuses to resume a task with other settings", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await open(dir);
    first.done();
    const store = StateStore.open(dir);
    const other = { ...task, rounds: { ...task.rounds, total: 99 } };
    assert.throws(
      () => store.task(task.id, JSON.stringify(other)).load(),
      (e) => e instanceof StateError && /other settings/.test(e.message),
    );
    store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a restarted async federation resumes its buffer, several updates of one client included", async () => {
  const dir = await Deno.makeTempDir();
  const asyncTask = mnistMlpTask({
    rounds: { total: 2, mode: "async", bufferSize: 3, maxStaleness: 2, timeoutSeconds: 600 },
  });
  try {
    const first = await open(dir, asyncTask);
    first.federation.submit(update(first.federation, "a", 0.01));
    first.federation.submit(update(first.federation, "a", 0.02));
    first.done();
    const second = await open(dir, asyncTask);
    assert.equal(second.federation.status().received, 2);
    second.federation.submit(update(second.federation, "a", 0.03));
    await second.federation.settled();
    assert.equal(second.federation.version, 1);
    assert.deepEqual(
      second.federation.status().history.at(-1)!.updates.map((u) => u.clientId),
      ["a", "a", "a"],
    );
    second.done();
    const third = await open(dir, asyncTask);
    assert.equal(third.federation.version, 1);
    assert.equal(third.federation.status().received, 0);
    third.done();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a restart keeps the server optimiser's state: FedAdam over a restart equals one life", async () => {
  const adam = mnistMlpTask({
    rounds: { total: 2, targetClients: 2, minClients: 2, timeoutSeconds: 600 },
    aggregation: { strategy: "fedadam", eta: 0.01 },
  });
  const run = async (dirs: string[]) => {
    let life = await open(dirs[0]!, adam);
    for (let round = 1; round <= 2; round++) {
      if (round === 2 && dirs.length > 1) {
        life.done();
        life = await open(dirs[1]!, adam);
      }
      life.federation.submit(update(life.federation, "a", 0.01 * round));
      life.federation.submit(update(life.federation, "b", -0.02 * round));
      await life.federation.settled();
    }
    const weights = decodeSafetensors(life.federation.globalModel().safetensors).tensors;
    life.done();
    return weights;
  };
  const one = await Deno.makeTempDir();
  const two = await Deno.makeTempDir();
  try {
    const straight = await run([one]);
    const restarted = await run([two, two]);
    for (const [name, tensor] of straight) {
      const other = restarted.get(name)!.data;
      let differ = 0;
      for (let i = 0; i < other.length; i++) if (other[i] !== tensor.data[i]) differ++;
      assert.equal(differ, 0, `${name}: ${differ} values differ`);
    }
  } finally {
    await Deno.remove(one, { recursive: true });
    await Deno.remove(two, { recursive: true });
  }
});
