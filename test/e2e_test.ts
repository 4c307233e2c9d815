// End to end: a real coordinator on a random port and 3 real clients (each in
// its own worker, on the wasm backend) train mnist-mlp over HTTP for 2 rounds,
// with authentication on: the clients enrol with an enrolment token.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { spawnClientWorker } from "../client/spawn_worker.ts";
import { startCoordinator } from "../coordinator/serve.ts";
import { selectRows } from "../shared/data/dataset.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import { partition } from "../shared/data/partition.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type Float32Tensor,
} from "../shared/wire/safetensors.ts";
import { ErrorResponseSchema, StatusSchema } from "../shared/schemas/mod.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
import { elementCount } from "../shared/shape.ts";

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

async function getModelBytes(url: string, token: string): Promise<Uint8Array> {
  const res = await fetch(`${url}/v1/model`, { headers: bearer(token) });
  assert.equal(res.status, 200);
  return new Uint8Array(await res.arrayBuffer());
}

async function post(
  url: string,
  body: Uint8Array,
  token: string,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${url}/v1/updates`, {
    method: "POST",
    headers: { ...bearer(token), "Content-Type": "application/octet-stream" },
    body: body as Uint8Array<ArrayBuffer>,
  });
  return { status: res.status, json: await res.json() };
}

Deno.test("3 clients train mnist-mlp over HTTP for 2 rounds and beat the initial model", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "e2e-run-" });
  const task = mnistMlpTask({
    rounds: { total: 2, targetClients: 3, minClients: 3, timeoutSeconds: 600 },
    training: { localSteps: 30 },
  });
  const { train, holdout } = await loadMnistSplit({ seed: 1 });
  const coordinator = await startCoordinator({ tasks: [{ config: task, holdout }], runDir });
  const { url, federation } = coordinator;
  const admin = coordinator.adminToken!;
  try {
    const intruder = coordinator.auth.issue("intruder").token;
    // A malformed update (a tensor of the wrong shape) is refused and changes nothing.
    const before = await getModelBytes(url, admin);
    const global = decodeSafetensors(before).tensors;
    const bad = new Map<string, Float32Tensor>();
    for (const { name, shape } of federation.trainable) {
      const size = elementCount(shape);
      bad.set(name, { shape, data: new Float32Array(size) });
    }
    bad.set("logits/bias", { shape: [11], data: new Float32Array(11) });
    const meta = {
      round: "1",
      baseVersion: "0",
      numLabeled: "5",
      numUnlabeled: "5",
      clientId: "intruder",
    };
    const rejected = await post(url, encodeSafetensors(bad, meta), intruder);
    assert.equal(rejected.status, 400);
    const error = ErrorResponseSchema.parse(rejected.json);
    assert.equal(error.error.code, "invalid_update");
    assert.match(error.error.message, /"logits\/bias" has shape \[11\], expected \[10\]/);
    assert.deepEqual(await getModelBytes(url, admin), before);
    assert.equal(federation.status().received, 0);

    // Three real clients on Dirichlet shards, 10% labeled, enrolled with a token.
    const enrolmentToken = coordinator.auth.createEnrolmentToken();
    const parts = partition(train.labels, [...train.labels.keys()], {
      clients: 3,
      beta: 0.5,
      labeledFraction: 0.1,
      seed: 1,
    });
    const clients = parts.map((part, i) =>
      spawnClientWorker({
        coordinator: url,
        dataset: selectRows(train, part.rows, { hideLabels: part.unlabeledRows }),
        clientId: `client-${i + 1}`,
        enrolmentToken,
        seed: i,
      })
    );
    await Promise.all([federation.finished, ...clients.map((c) => c.done)]);

    const status = StatusSchema.parse(
      await (await fetch(`${url}/v1/status`, { headers: bearer(admin) })).json(),
    );
    assert.equal(status.phase, "finished");
    assert.deepEqual(status.history.map((h) => h.round), [0, 1, 2]);
    assert.deepEqual(status.history.map((h) => h.clients), [0, 3, 3]);
    assert.deepEqual(status.clients.map((c) => c.updatesAccepted), [2, 2, 2]);
    const [initial, , last] = status.history;
    assert.ok(
      last!.accuracy! > initial!.accuracy!,
      `accuracy ${last!.accuracy} <= ${initial!.accuracy}`,
    );
    assert.ok(last!.accuracy! > 0.5, `accuracy after round 2 is only ${last!.accuracy}`);
    // Federated evaluation: each client measured the global it trained from
    // on its labeled rows; round 2's measure (of version 1) beats round 1's
    // (of the initial model).
    const [, first, second] = status.history.map((h) => h.federated);
    assert.equal(first?.clients, 3);
    assert.equal(second?.clients, 3);
    assert.ok(second!.accuracy > first!.accuracy, `${second!.accuracy} <= ${first!.accuracy}`);
    assert.ok(status.history.every((h) => h.strategy === "fedavg" && h.mode === "sync"));

    // The global model moved, and a late update for round 1 is stale.
    const after = decodeSafetensors(await getModelBytes(url, admin));
    assert.equal(after.metadata.version, "2");
    assert.notDeepEqual(
      after.tensors.get("dense1/kernel")!.data,
      global.get("dense1/kernel")!.data,
    );
    const late = new Map(
      federation.trainable.map(({ name, shape }) => [name, {
        shape,
        data: new Float32Array(elementCount(shape)),
      }]),
    );
    const late2 = coordinator.auth.issue("late").token;
    const stale = await post(url, encodeSafetensors(late, { ...meta, clientId: "late" }), late2);
    assert.equal(stale.status, 409);
    assert.equal(ErrorResponseSchema.parse(stale.json).error.code, "stale_update");

    // The checkpoint of round 2 and the served tfjs model load with tf.loadLayersModel.
    await tf.setBackend("wasm");
    const served = await tf.loadLayersModel(
      tf.io.http(`${url}/v1/model/model.json`, { requestInit: { headers: bearer(admin) } }),
    );
    const checkpoint = JSON.parse(await Deno.readTextFile(last!.checkpoint!));
    assert.equal(checkpoint.format, "layers-model");
    const x = tf.tensor2d(holdout.x.subarray(0, 784 * 8), [8, 784]);
    const served1 = (served.predict(x) as tf.Tensor).arraySync() as number[][];
    assert.equal(served1.length, 8);
    assert.ok(served1.flat().every(Number.isFinite));
    x.dispose();
    served.dispose();
  } finally {
    await coordinator.shutdown();
    await Deno.remove(runDir, { recursive: true });
  }
});
