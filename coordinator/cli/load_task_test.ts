import assert from "node:assert/strict";
import { join, relative } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { startBackend } from "../../client/training/backend.ts";
import { buildModel, readWeights, weightSpecs } from "../../shared/model/model.ts";
import { encodeSafetensors, type Float32Tensor } from "../../shared/wire/safetensors.ts";
import { toTfjsArtifacts } from "../../shared/model/tfjs_format.ts";
import { mnistMlpTopology } from "../../shared/tasks/mnist_mlp.ts";
import { writeCheckpoint } from "../storage/checkpoint.ts";
import {
  buildTaskModel,
  type LoadedTask,
  loadTaskFile,
  parseTaskText,
  resolveTaskFile,
  TaskFileError,
} from "./load_task.ts";

await startBackend("wasm");

const DIGITS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
const INPUT_YAML = `input:
  shape: [784]
  labels: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
`;

/** Runs `fn` with a fresh temporary folder and removes it afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "load_task_test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes `text` to `dir/name` and returns the path. */
async function write(dir: string, name: string, text: string | Uint8Array): Promise<string> {
  const path = join(dir, name);
  if (typeof text === "string") await Deno.writeTextFile(path, text);
  else await Deno.writeFile(path, text);
  return path;
}

/** Asserts that `promise` rejects with a TaskFileError whose message matches every pattern. */
async function assertTaskFileError(
  promise: Promise<unknown>,
  ...patterns: RegExp[]
): Promise<TaskFileError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof TaskFileError, `expected a TaskFileError, got ${caught}`);
  assert.equal(caught.name, "TaskFileError");
  for (const pattern of patterns) assert.match(caught.message, pattern);
  return caught;
}

/** Builds the task's model, runs `fn` on it and disposes it. */
async function withModel(
  task: LoadedTask,
  fn: (model: tf.LayersModel) => void | Promise<void>,
): Promise<void> {
  const model = await buildTaskModel(task);
  try {
    await fn(model);
  } finally {
    model.dispose();
  }
}

/** The initial weights of a topology built with `seed`. */
async function weightsOf(
  topology: Record<string, unknown>,
  seed = 0,
): Promise<Map<string, Float32Tensor>> {
  const model = await buildModel(topology, { seed });
  try {
    return readWeights(model);
  } finally {
    model.dispose();
  }
}

function bytes(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Asserts two weight maps hold the same names and bit-identical values (tfjs
 * lists frozen weights after trainable ones, so the order is not compared).
 */
function assertSameWeights(
  actual: Map<string, Float32Tensor>,
  expected: Map<string, Float32Tensor>,
): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [name, tensor] of expected) {
    const got = actual.get(name);
    assert.ok(got, name);
    assert.deepEqual(got.shape, tensor.shape, name);
    assert.deepEqual(bytes(got.data), bytes(tensor.data), `${name} is bit-identical`);
  }
}

/** Writes a pretrained tfjs model (model.json + weights.bin) as `dir/name/`. */
async function writePretrained(
  dir: string,
  name: string,
  topology: Record<string, unknown>,
  weights: Map<string, Float32Tensor>,
): Promise<string> {
  await writeCheckpoint(join(dir, name), { artifacts: toTfjsArtifacts(topology, weights) });
  return join(dir, name);
}

// ---------------------------------------------------------------------------
// Rejected task files

Deno.test("loadTaskFile() rejects a frozen layer name that is not in the model", async () => {
  await withTempDir(async (dir) => {
    const path = await write(
      dir,
      "task.yaml",
      `id: a\nmodel:\n  builtin: mnist-mlp\n  frozen: ["conv9"]\n`,
    );
    const error = await assertTaskFileError(loadTaskFile(path), /model\.frozen/, /"conv9"/);
    assert.ok(error.message.includes(path), "the message names the file");
    assert.match(error.message, /dense1, dropout1, dense2, dropout2, logits/);
  });
});

Deno.test("loadTaskFile() rejects a trainable pattern that matches no layer", async () => {
  await withTempDir(async (dir) => {
    const path = await write(
      dir,
      "task.yaml",
      `id: a\nmodel:\n  builtin: mnist-mlp\n  trainable: ["head*"]\n`,
    );
    await assertTaskFileError(loadTaskFile(path), /model\.trainable/, /"head\*"/);
  });
});

Deno.test("buildTaskModel() rejects pretrained weights whose shapes differ from the topology", async () => {
  await withTempDir(async (dir) => {
    // The topology is the 256-256 MLP, the weights those of a 128-256 MLP.
    await writePretrained(
      dir,
      "pretrained",
      mnistMlpTopology(),
      await weightsOf(mnistMlpTopology({ hidden: [128, 256] })),
    );
    const path = await write(
      dir,
      "task.yaml",
      `id: a\nmodel:\n  pretrained: pretrained\n${INPUT_YAML}`,
    );
    const task = await loadTaskFile(path);
    assert.deepEqual(task.weights?.get("dense1/kernel")?.shape, [784, 128]);
    const before = tf.memory().numTensors;
    await assertTaskFileError(
      buildTaskModel(task),
      /shape mismatch/,
      /"dense1\/kernel" is \[784,128\] in the weights, \[784,256\] in the topology/,
      /"dense1\/bias"/,
      /"dense2\/kernel"/,
    );
    assert.equal(tf.memory().numTensors, before, "the model built for the check is disposed");
  });
});

Deno.test("buildTaskModel() rejects a safetensors weights file with a wrong shape", async () => {
  await withTempDir(async (dir) => {
    const weights = await weightsOf(mnistMlpTopology());
    weights.set("logits/bias", { shape: [11], data: new Float32Array(11) });
    await write(dir, "init.safetensors", encodeSafetensors(weights));
    const path = await write(
      dir,
      "task.yaml",
      `id: a\nmodel:\n  builtin: mnist-mlp\n  weights: init.safetensors\n`,
    );
    const task = await loadTaskFile(path);
    await assertTaskFileError(
      buildTaskModel(task),
      /shape mismatch/,
      /"logits\/bias" is \[11\] in the weights, \[10\] in the topology/,
    );
  });
});

Deno.test("buildTaskModel() rejects a weights file naming a weight the topology lacks", async () => {
  await withTempDir(async (dir) => {
    const weights = await weightsOf(mnistMlpTopology());
    weights.set("extra/kernel", { shape: [2], data: new Float32Array(2) });
    await write(dir, "init.safetensors", encodeSafetensors(weights));
    const path = await write(
      dir,
      "task.yaml",
      `id: a\nmodel:\n  builtin: mnist-mlp\n  weights: init.safetensors\n`,
    );
    await assertTaskFileError(
      buildTaskModel(await loadTaskFile(path)),
      /"extra\/kernel" is in the weights but not in the topology/,
    );
  });
});

Deno.test("buildTaskModel() rejects a pretrained model that lacks a weight of the topology", async () => {
  await withTempDir(async (dir) => {
    const weights = await weightsOf(mnistMlpTopology());
    weights.delete("logits/bias");
    await writePretrained(dir, "pretrained", mnistMlpTopology(), weights);
    const path = await write(
      dir,
      "task.yaml",
      `id: a\nmodel:\n  pretrained: pretrained\n${INPUT_YAML}`,
    );
    await assertTaskFileError(
      buildTaskModel(await loadTaskFile(path)),
      /"logits\/bias" is in the topology but not in the weights/,
    );
  });
});

Deno.test("loadTaskFile() rejects a pretrained model whose weights file is missing", async () => {
  await withTempDir(async (dir) => {
    const pretrained = await writePretrained(
      dir,
      "pretrained",
      mnistMlpTopology(),
      await weightsOf(mnistMlpTopology()),
    );
    await Deno.remove(join(pretrained, "weights.bin"));
    const path = await write(
      dir,
      "task.yaml",
      `id: a\nmodel:\n  pretrained: pretrained\n${INPUT_YAML}`,
    );
    await assertTaskFileError(
      loadTaskFile(path),
      /model\.pretrained/,
      /missing weights file/,
      /weights\.bin/,
    );
  });
});

Deno.test("loadTaskFile() rejects a pretrained folder without model.json", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "empty"));
    const path = await write(dir, "task.yaml", `id: a\nmodel:\n  pretrained: empty\n${INPUT_YAML}`);
    await assertTaskFileError(loadTaskFile(path), /model\.pretrained/, /cannot read model\.json/);
  });
});

Deno.test("loadTaskFile() rejects a weights file shorter than its manifest", async () => {
  await withTempDir(async (dir) => {
    const pretrained = await writePretrained(
      dir,
      "pretrained",
      mnistMlpTopology(),
      await weightsOf(mnistMlpTopology()),
    );
    const bin = await Deno.readFile(join(pretrained, "weights.bin"));
    await Deno.writeFile(join(pretrained, "weights.bin"), bin.subarray(0, bin.byteLength - 4));
    const path = await write(
      dir,
      "task.yaml",
      `id: a\nmodel:\n  pretrained: pretrained\n${INPUT_YAML}`,
    );
    await assertTaskFileError(loadTaskFile(path), /model\.pretrained/, /"logits\/bias"/);
  });
});

Deno.test("loadTaskFile() rejects an unknown built-in model", async () => {
  await withTempDir(async (dir) => {
    const path = await write(dir, "task.yaml", `id: a\nmodel:\n  builtin: mnist-xyz\n`);
    await assertTaskFileError(loadTaskFile(path), /model\.builtin: Invalid option/, /"mnist-mlp"/);
  });
});

Deno.test("loadTaskFile() rejects invalid YAML", async () => {
  await withTempDir(async (dir) => {
    const path = await write(dir, "task.yaml", `id: [unclosed\nmodel:\n  builtin: mnist-mlp\n`);
    await assertTaskFileError(loadTaskFile(path), /invalid YAML/);
    const yml = await write(dir, "task.yml", `id: [unclosed\n`);
    await assertTaskFileError(loadTaskFile(yml), /invalid YAML/);
  });
});

Deno.test("loadTaskFile() rejects invalid JSON in a .json file", async () => {
  await withTempDir(async (dir) => {
    const path = await write(dir, "task.json", `{"id": "a", "model": {"builtin": "mnist-mlp"}`);
    await assertTaskFileError(loadTaskFile(path), /invalid JSON/);
    // YAML that is not JSON is not accepted in a .json file.
    const yaml = await write(dir, "yaml.json", `id: a\nmodel:\n  builtin: mnist-mlp\n`);
    await assertTaskFileError(loadTaskFile(yaml), /invalid JSON/);
  });
});

Deno.test("loadTaskFile() rejects a file that is not .yaml, .yml or .json", async () => {
  await withTempDir(async (dir) => {
    const path = await write(dir, "task.txt", `id: a\nmodel:\n  builtin: mnist-mlp\n`);
    await assertTaskFileError(loadTaskFile(path), /\.yaml, \.yml or \.json/);
  });
});

Deno.test("loadTaskFile() rejects a task file that does not exist", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "nope.yaml");
    const error = await assertTaskFileError(loadTaskFile(path));
    assert.ok(error.message.includes(path));
  });
});

Deno.test("loadTaskFile() rejects a topology model without input", async () => {
  await withTempDir(async (dir) => {
    const path = await write(
      dir,
      "task.json",
      JSON.stringify({ id: "a", model: { topology: mnistMlpTopology() } }),
    );
    await assertTaskFileError(loadTaskFile(path), /input/, /required/);
  });
});

Deno.test("loadTaskFile() rejects a pretrained model without input", async () => {
  await withTempDir(async (dir) => {
    await writePretrained(dir, "p", mnistMlpTopology(), await weightsOf(mnistMlpTopology()));
    const path = await write(dir, "task.yaml", `id: a\nmodel:\n  pretrained: p\n`);
    await assertTaskFileError(loadTaskFile(path), /input: required/);
  });
});

Deno.test("loadTaskFile() rejects trainable and frozen together", async () => {
  await withTempDir(async (dir) => {
    const path = await write(
      dir,
      "task.yaml",
      `id: a\nmodel:\n  builtin: mnist-mlp\n  trainable: [logits]\n  frozen: [dense1]\n`,
    );
    await assertTaskFileError(loadTaskFile(path), /model\.frozen/, /trainable or frozen, not both/);
  });
});

Deno.test("loadTaskFile() rejects a model with none or several of builtin, topology and pretrained", async () => {
  await withTempDir(async (dir) => {
    const none = await write(dir, "none.yaml", `id: a\nmodel:\n  seed: 3\n${INPUT_YAML}`);
    await assertTaskFileError(
      loadTaskFile(none),
      /model: give exactly one of builtin, topology, transformer and pretrained/,
    );
    const two = await write(
      dir,
      "two.yaml",
      `id: a\nmodel:\n  builtin: mnist-mlp\n  pretrained: p\n${INPUT_YAML}`,
    );
    await assertTaskFileError(loadTaskFile(two), /give exactly one of builtin, topology/);
  });
});

Deno.test("loadTaskFile() rejects unknown fields, naming them", async () => {
  await withTempDir(async (dir) => {
    const top = await write(dir, "top.yaml", `id: a\nmodel:\n  builtin: mnist-mlp\nepochs: 3\n`);
    await assertTaskFileError(loadTaskFile(top), /Unrecognized key: "epochs"/);
    const nested = await write(
      dir,
      "nested.yaml",
      `id: a\nmodel:\n  builtin: mnist-mlp\n  freeze: [dense1]\n`,
    );
    await assertTaskFileError(loadTaskFile(nested), /model: Unrecognized key: "freeze"/);
    const deep = await write(
      dir,
      "deep.yaml",
      `id: a\nmodel:\n  builtin: mnist-mlp\nrounds:\n  total: 2\n  clients: 3\n`,
    );
    await assertTaskFileError(loadTaskFile(deep), /rounds: Unrecognized key: "clients"/);
  });
});

Deno.test("loadTaskFile() rejects invalid values, naming the field", async () => {
  await withTempDir(async (dir) => {
    const id = await write(dir, "id.yaml", `id: Bad Id\nmodel:\n  builtin: mnist-mlp\n`);
    await assertTaskFileError(loadTaskFile(id), /id: id must be/);
    const total = await write(
      dir,
      "total.yaml",
      `id: a\nmodel:\n  builtin: mnist-mlp\nrounds:\n  total: 0\n`,
    );
    await assertTaskFileError(loadTaskFile(total), /rounds\.total/);
    const scalar = await write(dir, "scalar.yaml", `just a string\n`);
    await assertTaskFileError(loadTaskFile(scalar), /\(root\)/);
  });
});

Deno.test("loadTaskFile() rejects a holdout path that does not exist", async () => {
  await withTempDir(async (dir) => {
    const path = await write(
      dir,
      "task.yaml",
      `id: a\nmodel:\n  builtin: mnist-mlp\nholdout: data/missing.jsonl\n`,
    );
    await assertTaskFileError(loadTaskFile(path), /holdout/, /missing\.jsonl/);
  });
});

Deno.test("loadTaskFile() rejects a holdout file with a bad row, naming the line", async () => {
  await withTempDir(async (dir) => {
    await write(dir, "holdout.jsonl", `{"x": [1, 2, 3], "label": 1}\n`);
    const path = await write(
      dir,
      "task.yaml",
      `id: a\nmodel:\n  builtin: mnist-mlp\nholdout: holdout.jsonl\n`,
    );
    await assertTaskFileError(loadTaskFile(path), /holdout/, /line 1/, /784/);
  });
});

Deno.test("loadTaskFile() rejects a weights file that is missing or not safetensors", async () => {
  await withTempDir(async (dir) => {
    const missing = await write(
      dir,
      "missing.yaml",
      `id: a\nmodel:\n  builtin: mnist-mlp\n  weights: nope.safetensors\n`,
    );
    await assertTaskFileError(loadTaskFile(missing), /model\.weights/);
    await write(dir, "junk.safetensors", new Uint8Array([1, 2, 3]));
    const junk = await write(
      dir,
      "junk.yaml",
      `id: a\nmodel:\n  builtin: mnist-mlp\n  weights: junk.safetensors\n`,
    );
    await assertTaskFileError(loadTaskFile(junk), /model\.weights/);
  });
});

Deno.test("buildTaskModel() rejects a topology tfjs cannot build", async () => {
  const task = await resolveTaskFile(
    {
      id: "a",
      model: { topology: { class_name: "NoSuchModel", config: {} } },
      input: { shape: [784], labels: DIGITS },
    },
    { baseDir: ".", source: "inline.yaml" },
  );
  await assertTaskFileError(buildTaskModel(task), /model: Cannot build model/);
});

// ---------------------------------------------------------------------------
// Accepted task files

Deno.test("loadTaskFile() loads a YAML task with frozen layers marked in the topology", async () => {
  await withTempDir(async (dir) => {
    const path = await write(
      dir,
      "task.yaml",
      `# a comment\nid: digits\nmodel:\n  builtin: mnist-mlp\n  frozen: ["dense1"]\nrounds:\n  total: 3\n`,
    );
    const task = await loadTaskFile(path);
    assert.equal(task.config.id, "digits");
    assert.equal(task.config.rounds.total, 3);
    assert.equal(task.config.rounds.targetClients, 8, "defaults are filled in");
    assert.deepEqual(task.config.input.shape, [784]);
    assert.equal(task.weights, undefined);
    assert.equal(task.holdout, undefined);
    const layers = (task.config.model.topology.config as {
      layers: { config: { name: string; trainable: boolean } }[];
    }).layers;
    assert.deepEqual(
      layers.map((l) => [l.config.name, l.config.trainable]),
      [["dense1", false], ["dropout1", true], ["dense2", true], ["dropout2", true], [
        "logits",
        true,
      ]],
    );
    await withModel(task, (model) => {
      const trainable = weightSpecs(model, { trainableOnly: true }).map((w) => w.name);
      assert.deepEqual(trainable, ["dense2/kernel", "dense2/bias", "logits/kernel", "logits/bias"]);
      assert.ok(!trainable.includes("dense1/kernel"));
      assert.ok(!trainable.includes("dense1/bias"));
      assert.equal(model.weights.length, 6, "frozen weights are still in the model");
    });
  });
});

Deno.test("loadTaskFile() with trainable leaves only the listed layers training", async () => {
  await withTempDir(async (dir) => {
    const path = await write(
      dir,
      "task.yml",
      `id: head\nmodel:\n  builtin: mnist-mlp\n  trainable: ["logits"]\n`,
    );
    await withModel(await loadTaskFile(path), (model) => {
      assert.deepEqual(
        weightSpecs(model, { trainableOnly: true }).map((w) => w.name),
        ["logits/kernel", "logits/bias"],
      );
    });
  });
});

Deno.test("loadTaskFile() loads a JSON task", async () => {
  await withTempDir(async (dir) => {
    const path = await write(
      dir,
      "task.json",
      JSON.stringify({ id: "j", model: { builtin: "mnist-cnn" }, training: { alpha: 2 } }),
    );
    const task = await loadTaskFile(path);
    assert.equal(task.config.id, "j");
    assert.equal(task.config.training.alpha, 2);
    assert.deepEqual(task.config.input.shape, [28, 28, 1]);
  });
});

Deno.test("loadTaskFile() loads a pretrained model with bit-identical weights", async () => {
  await withTempDir(async (dir) => {
    const topology = mnistMlpTopology();
    const pretrained = await weightsOf(topology, 7);
    const seed0 = await weightsOf(topology, 0);
    assert.notDeepEqual(
      bytes(pretrained.get("dense1/kernel")!.data),
      bytes(seed0.get("dense1/kernel")!.data),
      "the pretrained weights differ from a fresh model's",
    );
    await writePretrained(dir, "pretrained", topology, pretrained);
    for (const location of ["pretrained", "./pretrained/model.json"]) {
      const path = await write(
        dir,
        "task.yaml",
        `id: ft\nmodel:\n  pretrained: ${location}\n${INPUT_YAML}`,
      );
      const task = await loadTaskFile(path);
      assert.ok(task.weights);
      assertSameWeights(task.weights, pretrained);
      await withModel(task, (model) => assertSameWeights(readWeights(model), pretrained));
    }
  });
});

Deno.test("loadTaskFile() loads a pretrained model with frozen layers, keeping its weights", async () => {
  await withTempDir(async (dir) => {
    const topology = mnistMlpTopology();
    const pretrained = await weightsOf(topology, 5);
    await writePretrained(dir, "pretrained", topology, pretrained);
    const path = await write(
      dir,
      "task.yaml",
      `id: ft\nmodel:\n  pretrained: pretrained\n  frozen: ["dense*"]\n${INPUT_YAML}`,
    );
    await withModel(await loadTaskFile(path), (model) => {
      assertSameWeights(readWeights(model), pretrained);
      assert.deepEqual(
        weightSpecs(model, { trainableOnly: true }).map((w) => w.name),
        ["logits/kernel", "logits/bias"],
      );
    });
  });
});

Deno.test("loadTaskFile() loads a Keras-converted pretrained model (model_config wrapper)", async () => {
  await withTempDir(async (dir) => {
    const topology = {
      keras_version: "2.15.0",
      backend: "tensorflow",
      model_config: mnistMlpTopology(),
    };
    const pretrained = await weightsOf(mnistMlpTopology(), 2);
    await writePretrained(dir, "keras", topology, pretrained);
    const path = await write(
      dir,
      "task.yaml",
      `id: k\nmodel:\n  pretrained: keras\n  trainable: ["logits"]\n${INPUT_YAML}`,
    );
    await withModel(await loadTaskFile(path), (model) => {
      assertSameWeights(readWeights(model), pretrained);
      assert.deepEqual(
        weightSpecs(model, { trainableOnly: true }).map((w) => w.name),
        ["logits/kernel", "logits/bias"],
      );
    });
  });
});

Deno.test("loadTaskFile() loads a pretrained model over http", async () => {
  await withTempDir(async (dir) => {
    const pretrained = await weightsOf(mnistMlpTopology(), 4);
    const folder = await writePretrained(dir, "pretrained", mnistMlpTopology(), pretrained);
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        const name = new URL(req.url).pathname.replace(/^\/models\//, "");
        if (name !== "model.json" && name !== "weights.bin") {
          return new Response("no", { status: 404 });
        }
        return new Response(await Deno.readFile(join(folder, name)));
      },
    );
    try {
      const url = `http://127.0.0.1:${server.addr.port}/models/model.json`;
      const path = await write(
        dir,
        "task.yaml",
        `id: web\nmodel:\n  pretrained: ${url}\n${INPUT_YAML}`,
      );
      await withModel(await loadTaskFile(path), (model) => {
        assertSameWeights(readWeights(model), pretrained);
      });
      const missing = await write(
        dir,
        "missing.yaml",
        `id: web\nmodel:\n  pretrained: http://127.0.0.1:${server.addr.port}/nope/model.json\n${INPUT_YAML}`,
      );
      await assertTaskFileError(loadTaskFile(missing), /model\.pretrained/, /404/);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("loadTaskFile() takes initial weights from a model.weights safetensors file", async () => {
  await withTempDir(async (dir) => {
    const init = await weightsOf(mnistMlpTopology(), 9);
    await write(dir, "init.safetensors", encodeSafetensors(init));
    const path = await write(
      dir,
      "task.yaml",
      `id: w\nmodel:\n  builtin: mnist-mlp\n  weights: init.safetensors\n`,
    );
    const task = await loadTaskFile(path);
    await withModel(task, (model) => assertSameWeights(readWeights(model), init));
  });
});

Deno.test("loadTaskFile() lets model.weights override a pretrained model's weights", async () => {
  await withTempDir(async (dir) => {
    const pretrained = await weightsOf(mnistMlpTopology(), 1);
    await writePretrained(dir, "pretrained", mnistMlpTopology(), pretrained);
    const head = new Map([["logits/bias", {
      shape: [10],
      data: Float32Array.from({ length: 10 }, (_, i) => i / 4),
    }]]);
    await write(dir, "head.safetensors", encodeSafetensors(head));
    const path = await write(
      dir,
      "task.yaml",
      `id: w\nmodel:\n  pretrained: pretrained\n  weights: head.safetensors\n${INPUT_YAML}`,
    );
    const expected = new Map(pretrained);
    expected.set("logits/bias", head.get("logits/bias")!);
    await withModel(await loadTaskFile(path), (model) => {
      assertSameWeights(readWeights(model), expected);
    });
  });
});

// buildTaskModel's documentation: "every given weight must exist with the same
// shape, and a pretrained model must give them all" - so a weights file on a
// built-in model should be allowed to set only some weights.
Deno.test({
  name: "buildTaskModel() accepts a model.weights file that sets only some weights",
  fn: async () => {
    await withTempDir(async (dir) => {
      const head = new Map([["logits/bias", {
        shape: [10],
        data: new Float32Array(10).fill(0.5),
      }]]);
      await write(dir, "head.safetensors", encodeSafetensors(head));
      const path = await write(
        dir,
        "task.yaml",
        `id: w\nmodel:\n  builtin: mnist-mlp\n  weights: head.safetensors\n`,
      );
      const expected = await weightsOf(mnistMlpTopology(), 0);
      expected.set("logits/bias", head.get("logits/bias")!);
      await withModel(await loadTaskFile(path), (model) => {
        assertSameWeights(readWeights(model), expected);
      });
    });
  },
});

Deno.test("loadTaskFile() resolves relative paths against the task file's folder", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "tasks", "data"), { recursive: true });
    await Deno.mkdir(join(dir, "models"));
    const init = await weightsOf(mnistMlpTopology(), 3);
    await write(dir, "models/init.safetensors", encodeSafetensors(init));
    const zeros = Array(784).fill(0);
    const ones = Array(784).fill(1);
    await write(
      dir,
      "tasks/data/holdout.jsonl",
      `${JSON.stringify({ x: zeros, label: 3 })}\n${JSON.stringify({ x: ones, label: "7" })}\n`,
    );
    await write(
      dir,
      "tasks/task.yaml",
      `id: rel\nmodel:\n  builtin: mnist-mlp\n  weights: ../models/init.safetensors\nholdout: data/holdout.jsonl\n`,
    );
    // Loaded by a path relative to the working directory, not the task's folder.
    const fromCwd = relative(Deno.cwd(), join(dir, "tasks", "task.yaml"));
    assert.ok(!fromCwd.startsWith("/"), fromCwd);
    const task = await loadTaskFile(fromCwd);
    assert.ok(task.holdout);
    assert.deepEqual([...task.holdout.labels], [3, 7]);
    assert.equal(task.holdout.x.length, 2 * 784);
    assert.equal(task.holdout.x[784], 1);
    await withModel(task, (model) => assertSameWeights(readWeights(model), init));
  });
});

Deno.test("resolveTaskFile() resolves relative paths against baseDir and names the source", async () => {
  await withTempDir(async (dir) => {
    const init = await weightsOf(mnistMlpTopology(), 6);
    await write(dir, "init.safetensors", encodeSafetensors(init));
    const task = await resolveTaskFile(
      { id: "inline", model: { builtin: "mnist-mlp", weights: "init.safetensors" } },
      { baseDir: dir },
    );
    assert.ok(task.weights);
    assertSameWeights(task.weights, init);
    await assertTaskFileError(
      resolveTaskFile({
        id: "inline",
        model: { builtin: "mnist-mlp", weights: "init.safetensors" },
      }, {
        baseDir: join(dir, "elsewhere"),
        source: "request",
      }),
      /^Cannot load task "request": model\.weights/,
    );
    await assertTaskFileError(
      resolveTaskFile({ id: "x" }, { baseDir: dir }),
      /^Cannot load task "\(inline\)": model:/,
    );
  });
});

Deno.test("parseTaskText() chooses the parser by extension, case-insensitively", () => {
  assert.deepEqual(parseTaskText("id: a\n", "TASK.YAML"), { id: "a" });
  assert.deepEqual(parseTaskText('{"id": "a"}', "t.JSON"), { id: "a" });
  assert.throws(() => parseTaskText("id: a", "t"), TaskFileError);
});
