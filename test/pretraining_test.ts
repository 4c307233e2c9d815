// Federated pretraining, then fine-tuning: a masked language model trains
// over HTTP on two clients' text (no labels), and its final weights and
// vocabulary become a tagging task's starting point, loaded bit for bit with
// a fresh head. And the worked example, `deno task pretrain-text`, end to
// end: its fine-tuning starts from its pretraining's files and exports a PEFT
// adapter over the attention projections.
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { startBackend } from "../client/training/backend.ts";
import { runClient } from "../client/run_client.ts";
import { buildTaskModel, resolveTaskFile } from "../coordinator/cli/load_task.ts";
import { startCoordinator } from "../coordinator/serve.ts";
import { readDataset } from "../shared/data/read_data.ts";
import { countRows, selectRows } from "../shared/data/dataset.ts";
import { buildModel, readWeights } from "../shared/model/model.ts";
import { decodeSafetensors } from "../shared/wire/safetensors.ts";
import { parse } from "yaml";
import { runDenoScript } from "./_deno_run.ts";

await startBackend("wasm");

const EXAMPLE = resolve("examples/tagging");
const TRANSFORMER = { layers: 1, dModel: 32, heads: 2, ffn: 64, dropout: 0.1 };

Deno.test("a masked language model pretrains on unlabeled text, and a tagger starts from it", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "pretraining-" });
  try {
    const pretraining = await resolveTaskFile({
      id: "mlm",
      model: { transformer: TRANSFORMER },
      input: {
        sequence: {
          kind: "masked-language-model",
          maxLength: 24,
          vocabulary: { from: "./train.jsonl", minCount: 1 },
        },
      },
      training: { localSteps: 10, labeledBatchSize: 8, unlabeledBatchSize: 0, learningRate: 0.005 },
      rounds: { total: 3, targetClients: 2, minClients: 2 },
      holdout: "./holdout.jsonl",
    }, { baseDir: EXAMPLE });
    const coordinator = await startCoordinator({
      tasks: [pretraining],
      auth: "insecure",
      runDir,
    });
    try {
      // The tagged sentences serve as plain text: no client holds a label.
      const rows = await readDataset(join(EXAMPLE, "train.jsonl"), pretraining.config.input);
      assert.equal(countRows(rows).numLabeled, 0);
      const n = rows.x.length / 24;
      await Promise.all([
        ...[0, 1].map((c) =>
          runClient({
            coordinator: coordinator.url,
            dataset: selectRows(rows, [...Array(n).keys()].filter((r) => r % 2 === c)),
            clientId: `reader-${c}`,
            seed: c,
            pollMs: 50,
          })
        ),
        coordinator.federation.finished,
      ]);
      const history = coordinator.federation.status().history;
      assert.deepEqual(history.slice(1).map((m) => m.clients), [2, 2, 2]);
      // The holdout is masked once, so the rounds are comparable: the model learns to fill in.
      assert.ok(
        history[3]!.perplexity! < history[0]!.perplexity! * 0.8,
        `perplexity ${history[0]!.perplexity} -> ${history[3]!.perplexity}`,
      );
    } finally {
      await coordinator.shutdown();
    }
    const final = join(runDir, "mlm", "final");
    const pretrained = decodeSafetensors(await Deno.readFile(join(final, "model.safetensors")));
    // Fine-tuning: the same transformer with a tagging head, from the pretrained weights.
    const finetuning = await resolveTaskFile({
      id: "tagger",
      model: { transformer: TRANSFORMER, weights: join(final, "model.safetensors") },
      input: {
        labels: [
          "ADJ",
          "ADP",
          "ADV",
          "CONJ",
          "DET",
          "NOUN",
          "NUM",
          "PRT",
          "PRON",
          "VERB",
          ".",
          "X",
        ],
        sequence: {
          kind: "token-classification",
          maxLength: 24,
          vocabulary: join(final, "vocabulary.json"),
        },
      },
    }, { baseDir: EXAMPLE });
    assert.equal(
      finetuning.config.input.sequence!.vocabulary.hash,
      pretraining.config.input.sequence!.vocabulary.hash,
    );
    const model = await buildTaskModel(finetuning);
    const fresh = await buildModel(finetuning.config.model.topology, { seed: 0 });
    const loaded = readWeights(model);
    const initial = readWeights(fresh);
    for (const [name, tensor] of loaded) {
      const source = pretrained.tensors.get(name);
      if (name.startsWith("logits/")) {
        // The head is new: the task's seeded initialisation, not in the pretrained file.
        assert.equal(source, undefined);
        assert.deepEqual(tensor.data, initial.get(name)!.data);
      } else {
        assert.ok(source, `"${name}" comes from the pretrained model`);
        assert.deepEqual(
          tensor.data,
          source.data,
          `"${name}" is the pretrained tensor, bit for bit`,
        );
      }
    }
    assert.ok(loaded.has("logits/kernel") && loaded.has("embedding/token_embedding"));
    model.dispose();
    fresh.dispose();
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test("deno task pretrain-text: pretraining, then LoRA fine-tuning from it, with a PEFT adapter over the attention projections", async () => {
  const out = await Deno.makeTempDir({ prefix: "pretrain-text-" });
  try {
    const { code, stdout: text, stderr } = await runDenoScript("examples/pretrain-text/run.ts", [
      "--clients",
      "2",
      "--pretrain-rounds",
      "1",
      "--rounds",
      "1",
      "--local-steps",
      "2",
      "--lora",
      "2",
      "--out",
      out,
    ]);
    assert.equal(code, 0, `${text}\n${stderr}`);
    assert.match(text, /pretraining round 1: 2 clients, masked-token perplexity/);
    assert.match(text, /fine-tuning round 1: 2 clients, holdout accuracy/);
    // The fine-tuning task starts from the pretraining's own files.
    const task = parse(await Deno.readTextFile(join(out, "fine-tuning.yaml"))) as {
      model: { weights: string };
      input: { sequence: { vocabulary: string } };
    };
    const final = join(out, "pretraining", "pretraining", "final");
    assert.equal(resolve(out, task.model.weights), join(final, "model.safetensors"));
    assert.equal(resolve(out, task.input.sequence.vocabulary), join(final, "vocabulary.json"));
    // The adapter names the transformer's attention projections, and keeps the head whole.
    const run = join(out, "fine-tuning", "fine-tuning");
    const config = JSON.parse(
      await Deno.readTextFile(join(run, "final-adapter", "adapter_config.json")),
    );
    assert.deepEqual(
      [...config.target_modules].sort(),
      [0, 1].flatMap((i) => ["query", "key", "value", "output"].map((p) => `block${i}_${p}`))
        .sort(),
    );
    assert.deepEqual(config.modules_to_save, ["logits"]);
    assert.equal(config.r, 2);
    const adapter = decodeSafetensors(
      await Deno.readFile(join(run, "final-adapter", "adapter_model.safetensors")),
    );
    assert.deepEqual(adapter.tensors.get("base_model.model.block0_query.lora_A.weight")!.shape, [
      2,
      64,
    ]);
    const merged = decodeSafetensors(
      await Deno.readFile(join(run, "final-merged", "model.safetensors")),
    );
    assert.ok(merged.tensors.has("block1_output/kernel") && merged.tensors.has("logits/kernel"));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
