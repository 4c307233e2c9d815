// Federated fine-tuning of a pretrained model loaded from a folder, with the
// convolutional backbone frozen: a real coordinator, 2 real clients over HTTP.
import assert from "node:assert/strict";
import { join } from "node:path";
import { startBackend } from "../client/training/backend.ts";
import { spawnClientWorker } from "../client/spawn_worker.ts";
import { writeCheckpoint } from "../coordinator/storage/checkpoint.ts";
import { loadTaskFile } from "../coordinator/cli/load_task.ts";
import { startCoordinator } from "../coordinator/serve.ts";
import { digits, pretrainCnn } from "../examples/mnist-finetune/pretrain.ts";
import { type Dataset, selectRows } from "../shared/data/dataset.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import * as tf from "@tensorflow/tfjs";
import { buildModel, readWeights, writeWeights } from "../shared/model/model.ts";
import { partition } from "../shared/data/partition.ts";
import { decodeSafetensors } from "../shared/wire/safetensors.ts";
import { toTfjsArtifacts } from "../shared/model/tfjs_format.ts";
import { mnistCnnTopology } from "../shared/tasks/mnist_cnn.ts";

function jsonl(data: Dataset): string {
  return Array.from(
    { length: data.labels.length },
    (_, i) =>
      JSON.stringify({
        x: Array.from(data.x.subarray(i * 784, (i + 1) * 784)),
        label: data.labels[i],
      }),
  )
    .join("\n");
}

Deno.test("a pretrained CNN fine-tunes over 2 federated rounds with its backbone frozen", async () => {
  await startBackend("wasm");
  const dir = await Deno.makeTempDir({ prefix: "finetune-" });
  const { train, holdout } = await loadMnistSplit({ seed: 3 });
  const pretrained = await pretrainCnn(selectRows(train, digits(train, 0, 4)), {
    steps: 100,
    seed: 3,
  });
  const initial = readWeights(pretrained);
  pretrained.dispose();
  await writeCheckpoint(join(dir, "pretrained"), {
    artifacts: toTfjsArtifacts(mnistCnnTopology(), initial),
  });
  await Deno.writeTextFile(
    join(dir, "holdout.jsonl"),
    jsonl(selectRows(holdout, digits(holdout, 5, 9))),
  );
  await Deno.writeTextFile(
    join(dir, "task.yaml"),
    `id: finetune
model:
  pretrained: ./pretrained
  frozen: ["conv*"]
input:
  shape: [28, 28, 1]
  labels: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
training: { localSteps: 25, labeledBatchSize: 16, unlabeledBatchSize: 48, learningRate: 0.002 }
rounds: { total: 2, targetClients: 2, minClients: 2 }
holdout: ./holdout.jsonl
`,
  );
  const task = await loadTaskFile(join(dir, "task.yaml"));
  const coordinator = await startCoordinator({
    tasks: [task],
    runDir: join(dir, "run"),
    auth: "insecure",
  });
  const { federation } = coordinator;
  try {
    assert.deepEqual(
      federation.trainable.map((w) => w.name),
      ["dense1/kernel", "dense1/bias", "logits/kernel", "logits/bias"],
    );
    const fresh = digits(train, 5, 9);
    const parts = partition(train.labels, fresh, { clients: 2, labeledFraction: 0.1, seed: 3 });
    const clients = parts.map((part, i) =>
      spawnClientWorker({
        coordinator: coordinator.url,
        dataset: selectRows(train, part.rows, { hideLabels: part.unlabeledRows }),
        clientId: `client-${i + 1}`,
        seed: i,
      })
    );
    await Promise.all([federation.finished, ...clients.map((c) => c.done)]);

    const status = federation.status();
    const final = decodeSafetensors(
      new Uint8Array(await (await fetch(`${coordinator.url}/v1/model`)).arrayBuffer()),
    ).tensors;
    for (const name of ["conv1/kernel", "conv1/bias", "conv2/kernel", "conv2/bias"]) {
      assert.deepEqual(final.get(name)!.data, initial.get(name)!.data, `${name} changed`);
    }
    for (const name of ["dense1/kernel", "logits/kernel", "logits/bias"]) {
      assert.notDeepEqual(final.get(name)!.data, initial.get(name)!.data, `${name} did not change`);
    }
    // An update carries the trainable tensors only: their bytes plus a small header.
    const size = (names: string[]) =>
      names.reduce((n, name) => n + 4 * initial.get(name)!.data.length, 0);
    const trainableBytes = size(federation.trainable.map((w) => w.name));
    const round1 = status.history[1]!;
    const perUpdate = round1.bytesReceived / round1.clients;
    assert.ok(
      perUpdate >= trainableBytes && perUpdate < trainableBytes + 2048,
      `${perUpdate} bytes`,
    );
    assert.ok(perUpdate < size([...initial.keys()]));
    // Accuracy on the new classes improves over the pretrained model's.
    const [before, , after] = status.history;
    assert.ok(
      after!.accuracy! > before!.accuracy! + 0.2,
      `${before!.accuracy} -> ${after!.accuracy}`,
    );
    // The final model is exported in both formats.
    assert.ok(status.finalModel?.endsWith(join("final", "model.json")));
    const exported = decodeSafetensors(
      await Deno.readFile(join(dir, "run", "finetune", "final", "model.safetensors")),
    ).tensors;
    assert.deepEqual(exported.get("logits/kernel")!.data, final.get("logits/kernel")!.data);
  } finally {
    await coordinator.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LoRA fine-tuning: only B travels, the base stays, and the merged and PEFT exports match the model", async () => {
  await startBackend("wasm");
  const dir = await Deno.makeTempDir({ prefix: "finetune-lora-" });
  const { train, holdout } = await loadMnistSplit({ seed: 3 });
  const pretrained = await pretrainCnn(selectRows(train, digits(train, 0, 4)), {
    steps: 100,
    seed: 3,
  });
  const initial = readWeights(pretrained);
  pretrained.dispose();
  await writeCheckpoint(join(dir, "pretrained"), {
    artifacts: toTfjsArtifacts(mnistCnnTopology(), initial),
  });
  const holdoutRows = selectRows(holdout, digits(holdout, 5, 9));
  await Deno.writeTextFile(join(dir, "holdout.jsonl"), jsonl(holdoutRows));
  await Deno.writeTextFile(
    join(dir, "task.yaml"),
    `id: finetune-lora
model:
  pretrained: ./pretrained
  lora: { rank: 4, alpha: 16, dropout: 0.1, targets: ["dense1", "logits"] }
input:
  shape: [28, 28, 1]
  labels: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
training: { localSteps: 25, labeledBatchSize: 16, unlabeledBatchSize: 48, learningRate: 0.01 }
rounds: { total: 2, targetClients: 2, minClients: 2 }
holdout: ./holdout.jsonl
`,
  );
  const task = await loadTaskFile(join(dir, "task.yaml"));
  const coordinator = await startCoordinator({
    tasks: [task],
    runDir: join(dir, "run"),
    auth: "insecure",
  });
  const { federation } = coordinator;
  try {
    assert.deepEqual(federation.trainable.map((w) => w.name).sort(), [
      "dense1/lora_B",
      "logits/lora_B",
    ]);
    const fresh = digits(train, 5, 9);
    const parts = partition(train.labels, fresh, { clients: 2, labeledFraction: 0.1, seed: 3 });
    const clients = parts.map((part, i) =>
      spawnClientWorker({
        coordinator: coordinator.url,
        dataset: selectRows(train, part.rows, { hideLabels: part.unlabeledRows }),
        clientId: `client-${i + 1}`,
        seed: i,
      })
    );
    await Promise.all([federation.finished, ...clients.map((c) => c.done)]);
    const status = federation.status();
    const final = decodeSafetensors(
      new Uint8Array(await (await fetch(`${coordinator.url}/v1/model`)).arrayBuffer()),
    ).tensors;
    // Every base weight is the pretrained one, bit for bit; the adapters moved.
    for (const [name, w] of initial) {
      assert.deepEqual(final.get(name)!.data, w.data, `${name} changed`);
    }
    assert.ok(final.get("logits/lora_B")!.data.some((v) => v !== 0), "logits/lora_B did not train");
    // An update is the two B's: 4 x 64 + 4 x 10 values plus a small header.
    const round1 = status.history[1]!;
    const perUpdate = round1.bytesReceived / round1.clients;
    assert.ok(
      perUpdate >= 4 * (4 * 64 + 4 * 10) && perUpdate < 4 * (4 * 64 + 4 * 10) + 2048,
      `${perUpdate} bytes`,
    );
    const [before, , after] = status.history;
    assert.ok(
      after!.accuracy! > before!.accuracy! + 0.2,
      `${before!.accuracy} -> ${after!.accuracy}`,
    );
    // The merged model is a plain tfjs model whose outputs are the adapted model's.
    const run = join(dir, "run", "finetune-lora");
    const mergedJson = JSON.parse(await Deno.readTextFile(join(run, "final-merged", "model.json")));
    assert.ok(!JSON.stringify(mergedJson.modelTopology).includes("LoraDense"));
    const adapted = await buildModel(task.config.model.topology);
    writeWeights(adapted, final);
    const merged = await buildModel(mergedJson.modelTopology);
    const mergedWeights = decodeSafetensors(
      await Deno.readFile(join(run, "final-merged", "model.safetensors")),
    ).tensors;
    writeWeights(merged, mergedWeights);
    const x = tf.tensor(holdoutRows.x.subarray(0, 32 * 784), [32, 28, 28, 1]);
    const gap = tf.tidy(() =>
      tf.max(tf.abs(tf.sub(adapted.predict(x) as tf.Tensor, merged.predict(x) as tf.Tensor)))
        .dataSync()[0]!
    );
    assert.ok(gap < 1e-4, `merged and adapted logits differ by ${gap}`);
    // The PEFT adapter: config and tensors; base + s (B A)^T recomputed from it is the merged kernel.
    const config = JSON.parse(
      await Deno.readTextFile(join(run, "final-adapter", "adapter_config.json")),
    );
    assert.equal(config.r, 4);
    assert.equal(config.lora_alpha, 16);
    assert.deepEqual(config.target_modules, ["dense1", "logits"]);
    const peft = decodeSafetensors(
      await Deno.readFile(join(run, "final-adapter", "adapter_model.safetensors")),
    ).tensors;
    for (const layer of ["dense1", "logits"]) {
      const a = peft.get(`base_model.model.${layer}.lora_A.weight`)!;
      const b = peft.get(`base_model.model.${layer}.lora_B.weight`)!;
      const kernel = initial.get(`${layer}/kernel`)!;
      assert.deepEqual(a.shape, [4, kernel.shape[0]]);
      assert.deepEqual(b.shape, [kernel.shape[1], 4]);
      const recomputed = tf.tidy(() =>
        tf.add(
          tf.tensor(kernel.data, kernel.shape),
          tf.matMul(
            tf.tensor(b.data, b.shape as [number, number]),
            tf.tensor(a.data, a.shape as [number, number]),
          ).mul(16 / 4).transpose(),
        ).dataSync()
      );
      const m = mergedWeights.get(`${layer}/kernel`)!.data;
      const worst = (recomputed as Float32Array).reduce(
        (w, v, i) => Math.max(w, Math.abs(v - m[i]!)),
        0,
      );
      assert.ok(worst < 1e-5, `${layer}: ${worst}`);
    }
    tf.dispose([x]);
    adapted.dispose();
    merged.dispose();
  } finally {
    await coordinator.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
