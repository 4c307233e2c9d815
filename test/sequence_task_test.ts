// A sequence task end to end: the task file's transformer and vocabulary
// (built from its train rows) served at /v1/task; two real clients tokenize
// their JSONL rows with the served vocabulary and train; the coordinator
// measures perplexity each round and shows it in /v1/status and /metrics.
// And the vocabulary is a contract: an update tokenized with another
// vocabulary is refused with the reason, and so is a task whose vocabulary
// is not the one a client pinned.
import assert from "node:assert/strict";
import { join } from "node:path";
import { startBackend } from "../client/training/backend.ts";
import { runClient } from "../client/run_client.ts";
import { encodeUpdateBody } from "../client/link/coordinator_client.ts";
import { loadTaskFile, resolveTaskFile, TaskFileError } from "../coordinator/cli/load_task.ts";
import { startCoordinator } from "../coordinator/serve.ts";
import { readDataset } from "../shared/data/read_data.ts";
import { selectRows } from "../shared/data/dataset.ts";
import {
  SecureAggregationSchema,
  StatusSchema,
  TaskResponseSchema,
} from "../shared/schemas/mod.ts";
import { buildVocabulary } from "../shared/tokenizer/tokenizer.ts";
import { decodeSafetensors } from "../shared/wire/safetensors.ts";

await startBackend("wasm");

const TAGGING = "examples/tagging/task.yaml";

Deno.test("a tagging task from a task file trains over HTTP, with perplexity each round", async () => {
  const task = await loadTaskFile(TAGGING, { readTrainData: true });
  const runDir = await Deno.makeTempDir({ prefix: "sequence-task-run-" });
  const coordinator = await startCoordinator({
    tasks: [{ ...task, config: { ...task.config, rounds: { ...task.config.rounds, total: 2 } } }],
    auth: "insecure",
    runDir,
  });
  try {
    const served = TaskResponseSchema.parse(
      await (await fetch(`${coordinator.url}/v1/task`)).json(),
    );
    const vocabulary = served.input.sequence!.vocabulary;
    assert.equal(vocabulary.hash, task.config.input.sequence!.vocabulary.hash);
    assert.ok(vocabulary.tokens.includes("jury"), "the vocabulary comes from train.jsonl");
    // Each client reads the rows as a person's file, with the served task's input.
    const rows = await readDataset("examples/tagging/train.jsonl", served.input);
    const n = rows.x.length / 24;
    const halves = [
      [...Array(n).keys()].filter((r) => r % 2 === 0),
      [...Array(n).keys()].filter(
        (r) => r % 2 === 1,
      ),
    ];
    await Promise.all([
      ...halves.map((half, i) =>
        runClient({
          coordinator: coordinator.url,
          dataset: selectRows(rows, half),
          clientId: `tagger-${i}`,
          seed: i,
          vocabularyHash: vocabulary.hash,
          pollMs: 50,
        })
      ),
      coordinator.federation.finished,
    ]);
    const status = StatusSchema.parse(await (await fetch(`${coordinator.url}/v1/status`)).json());
    assert.equal(status.history.length, 3);
    for (const round of status.history) {
      assert.ok(round.perplexity! > 1, `round ${round.round}: perplexity ${round.perplexity}`);
      assert.ok(Math.abs(round.perplexity! - Math.exp(round.loss!)) < 1e-6 * round.perplexity!);
    }
    // Training lowers the held-out perplexity from the initial model's.
    assert.ok(status.history[2]!.perplexity! < status.history[0]!.perplexity!);
    assert.deepEqual(status.clients.map((c) => c.updatesAccepted), [2, 2]);
    const metrics = await (await fetch(`${coordinator.url}/metrics`)).text();
    const gauge = /fl_holdout_perplexity\{task="tagging"\} ([0-9.e+-]+)/.exec(metrics);
    assert.ok(gauge, "the perplexity gauge is exported");
    assert.ok(Math.abs(Number(gauge[1]) - status.history[2]!.perplexity!) < 1e-6);
    // The final model carries what rebuilds it: the architecture and the vocabulary.
    const final = decodeSafetensors(
      await Deno.readFile(join(runDir, "tagging", "final", "model.safetensors")),
    );
    assert.deepEqual(JSON.parse(final.metadata.transformer!), {
      vocabSize: vocabulary.tokens.length,
      layers: 1,
      dModel: 32,
      heads: 2,
      ffn: 64,
      maxLength: 24,
      causal: false,
      dropout: 0.1,
      tied: false,
      output: { kind: "tokens", classes: 12 },
    });
    assert.equal(final.metadata.vocabulary, vocabulary.hash);
    const saved = JSON.parse(
      await Deno.readTextFile(join(runDir, "tagging", "final", "vocabulary.json")),
    );
    assert.deepEqual(saved, vocabulary);
  } finally {
    await coordinator.shutdown();
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test("an update tokenized with another vocabulary, or saying none, is refused with the reason", async () => {
  const task = await loadTaskFile(TAGGING);
  const coordinator = await startCoordinator({ tasks: [task], auth: "insecure" });
  try {
    const served = TaskResponseSchema.parse(
      await (await fetch(`${coordinator.url}/v1/task`)).json(),
    );
    const delta = new Map(
      served.weights.map((w) => [w.name, {
        shape: w.shape,
        data: new Float32Array(w.shape.reduce((a, b) => a * b, 1)),
      }]),
    );
    const other = await buildVocabulary(["some other words entirely"], { minCount: 1 });
    const send = async (vocabulary?: string) => {
      const body = encodeUpdateBody(delta, {
        round: 1,
        baseVersion: 0,
        numLabeled: 4,
        numUnlabeled: 0,
        clientId: "c",
        vocabulary,
      });
      const response = await fetch(`${coordinator.url}/v1/updates`, {
        method: "POST",
        headers: { "Content-Type": "application/octet-stream" },
        body: body as Uint8Array<ArrayBuffer>,
      });
      return { status: response.status, body: await response.json() };
    };
    const wrong = await send(other.hash);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error.code, "vocabulary_mismatch");
    assert.match(
      wrong.body.error.message,
      new RegExp(
        `tokenized with vocabulary ${other.hash}, the task's is ${
          served.input.sequence!.vocabulary.hash
        }`,
      ),
    );
    const none = await send(undefined);
    assert.equal(none.status, 400);
    assert.match(none.body.error.message, /does not say which vocabulary/);
    assert.equal(coordinator.federation.status().received, 0);
    const right = await send(served.input.sequence!.vocabulary.hash);
    assert.equal(right.status, 202);
  } finally {
    await coordinator.shutdown();
  }
});

Deno.test("in a secure round, a client advertising keys for another vocabulary is refused", async () => {
  const task = await loadTaskFile(TAGGING);
  const coordinator = await startCoordinator({
    tasks: [{
      ...task,
      config: { ...task.config, secureAggregation: SecureAggregationSchema.parse({}) },
    }],
    auth: "insecure",
  });
  try {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
    const advertise = (vocabulary?: string) =>
      fetch(`${coordinator.url}/v1/secagg/keys`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          round: 1,
          clientId: "c",
          encryptionKey: key,
          maskKey: key,
          vocabulary,
        }),
      });
    const wrong = await advertise("1".repeat(64));
    assert.equal(wrong.status, 400);
    const body = await wrong.json();
    assert.equal(body.error.code, "vocabulary_mismatch");
    assert.match(body.error.message, /tokenized with vocabulary 1{64}, the task's is/);
    assert.equal((await advertise(task.config.input.sequence!.vocabulary.hash)).status, 202);
  } finally {
    await coordinator.shutdown();
  }
});

Deno.test("a client that pinned a vocabulary refuses a task serving another", async () => {
  const task = await loadTaskFile(TAGGING);
  const coordinator = await startCoordinator({ tasks: [task], auth: "insecure" });
  try {
    const rows = await readDataset("examples/tagging/holdout.jsonl", task.config.input);
    const pinned = "0".repeat(64);
    await assert.rejects(
      runClient({ coordinator: coordinator.url, dataset: rows, vocabularyHash: pinned }),
      new RegExp(
        `Cannot join task "tagging": Cannot use the vocabulary: the task's is version ${
          task.config.input.sequence!.vocabulary.hash
        }, this client holds ${pinned}`,
      ),
    );
    assert.equal(coordinator.federation.status().received, 0);
  } finally {
    await coordinator.shutdown();
  }
});

Deno.test("a task file's vocabulary whose hash is not its contents' is refused", async () => {
  const vocabulary = await buildVocabulary(["the cat sat"], { minCount: 1 });
  const tampered = { ...vocabulary, tokens: [...vocabulary.tokens, "extra"] };
  const dir = await Deno.makeTempDir({ prefix: "sequence-task-" });
  try {
    await Deno.writeTextFile(join(dir, "vocabulary.json"), JSON.stringify(tampered));
    const file = {
      id: "lm",
      model: { transformer: { layers: 1, dModel: 8, heads: 2 } },
      input: { sequence: { kind: "language-model", maxLength: 8, vocabulary: "vocabulary.json" } },
    };
    await assert.rejects(
      resolveTaskFile(file, { baseDir: dir }),
      (error: Error) =>
        error instanceof TaskFileError &&
        /input\.sequence\.vocabulary: Cannot use the vocabulary: its contents hash to [0-9a-f]{64}, not the/
          .test(error.message),
    );
    // The same file with the real vocabulary loads: a causal, tied language model over it.
    await Deno.writeTextFile(join(dir, "vocabulary.json"), JSON.stringify(vocabulary));
    const loaded = await resolveTaskFile(file, { baseDir: dir });
    assert.deepEqual(loaded.config.input.shape, [8]);
    assert.deepEqual(loaded.config.input.labels, []);
    const layers = (loaded.config.model.topology as { config: { layers: { name: string }[] } })
      .config.layers.map((l) => l.name);
    assert.ok(layers.includes("block0_attention") && !layers.includes("logits"), layers.join());
    // A language model with labels is refused, naming the field.
    await assert.rejects(
      resolveTaskFile({ ...file, input: { ...file.input, labels: ["a", "b"] } }, { baseDir: dir }),
      /input\.labels: a language model's classes are its vocabulary: give no labels/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
