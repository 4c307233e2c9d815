/**
 * The pretraining worked example, end to end over HTTP: clients hold e-mails
 * of the SpamAssassin corpus as text (a few of them labelled spam or ham);
 * first a federated masked-token pretraining of a transformer on all their
 * text (no label used), then a federated fine-tuning of a classifier that
 * starts from it, with LoRA adapters on the attention projections and the
 * head in full (or every weight with `--full`, or from scratch with
 * `--scratch`). Writes the data files, the task files and the runs (the
 * pretrained model and vocabulary; the PEFT adapter and the merged model)
 * under one folder, and prints the accuracy before and after and the bytes
 * of an update.
 *
 * `deno task pretrain-text [--lora RANK | --full | --scratch] [options]`
 * @module
 */
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { spawnClientWorker } from "../../client/spawn_worker.ts";
import { startBackend } from "../../client/training/backend.ts";
import { resolveTaskFile } from "../../coordinator/cli/load_task.ts";
import { startCoordinator } from "../../coordinator/serve.ts";
import { fail, numberFlag, parseFlags } from "../../shared/cli.ts";
import { splitHoldout } from "../../shared/data/partition.ts";
import { readDataset } from "../../shared/data/read_data.ts";
import { loadSpamAssassin } from "../../shared/data/spam.ts";
import { seededRandom, shuffle } from "../../shared/random.ts";
import type { RoundMetrics } from "../../shared/schemas/mod.ts";
import { ATTENTION_PROJECTIONS, SMALL_TRANSFORMER } from "../../shared/tasks/sequence_model.ts";
import { vocabularyOfWords, words } from "../../shared/tokenizer/tokenizer.ts";

const HELP = `Usage: deno task pretrain-text [--lora RANK | --full | --scratch] [options]

Federated pretraining on the clients' text, then federated fine-tuning with few
labels (see docs/fine-tuning.md). The clients hold e-mails of the SpamAssassin
corpus (their first 64 words), a few labelled spam or ham.

  --lora RANK            fine-tune LoRA adapters of this rank on the attention projections,
                         the head in full (default 8)
  --full                 fine-tune every weight instead
  --scratch              no pretraining: train every weight from the seeded start (the baseline)
  --clients N            clients (default 4)
  --labeled F            fraction of each client's e-mails that keep their label (default 0.02)
  --pretrain-rounds N    rounds of masked-token pretraining (default 10)
  --rounds N             rounds of fine-tuning (default 10)
  --local-steps N        local steps per round, both stages (default 20)
  --out DIR              where to write (default runs/pretrain-text-<time>)`;

const args = parseFlags(
  Deno.args,
  ["lora", "clients", "labeled", "pretrain-rounds", "rounds", "local-steps", "out"],
  HELP,
  { booleans: ["full", "scratch"] },
);
if ([args.full, args.scratch, args.lora !== undefined].filter(Boolean).length > 1) {
  fail("give one of --lora RANK, --full and --scratch");
}
const rank = args.full || args.scratch
  ? undefined
  : numberFlag("lora", args.lora, 8, { min: 1, integer: true });
const clients = numberFlag("clients", args.clients, 4, { min: 1, max: 100, integer: true });
const labeled = numberFlag("labeled", args.labeled, 0.02, { min: 0, max: 1 });
const pretrainRounds = numberFlag("pretrain-rounds", args["pretrain-rounds"], 10, {
  min: 1,
  integer: true,
});
const rounds = numberFlag("rounds", args.rounds, 10, { min: 1, integer: true });
const localSteps = numberFlag("local-steps", args["local-steps"], 20, { min: 1, integer: true });
const out = resolve(
  args.out ?? join("runs", `pretrain-text-${new Date().toISOString().replace(/[:.]/g, "-")}`),
);
const MAX_LENGTH = 64;
const TRANSFORMER = { ...SMALL_TRANSFORMER };

await startBackend("wasm");
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;

// 1. The clients' files: their e-mails' first words, a few labelled. The
// held-out e-mails (the split of spam-text) score the classifier; the
// vocabulary is public: the words of the training e-mails (each client
// could count its own and share the counts).
const { texts, labels } = await loadSpamAssassin();
const split = splitHoldout(labels.length, { holdoutFraction: 0.2, seed: 0 });
const head = (i: number) => words(texts[i]!, false).slice(0, MAX_LENGTH).join(" ");
const LABELS = ["ham", "spam"];
const data = join(out, "data");
await Deno.mkdir(data, { recursive: true });
const random = seededRandom(1);
const line = (i: number, tagged: boolean) =>
  JSON.stringify(tagged ? { text: head(i), label: LABELS[labels[i]!] } : { text: head(i) });
const order = shuffle([...split.train], random);
const files: string[] = [];
for (let c = 0; c < clients; c++) {
  const mine = order.filter((_, k) => k % clients === c);
  files.push(join(data, `client-${c + 1}.jsonl`));
  await Deno.writeTextFile(
    files[c]!,
    mine.map((i) => line(i, random() < labeled)).join("\n") + "\n",
  );
}
await Deno.writeTextFile(
  join(data, "holdout.jsonl"),
  split.holdout.map((i) => line(i, true)).join("\n") + "\n",
);
const vocabulary = await vocabularyOfWords(
  split.train.flatMap((i) => words(head(i), true)),
  { minCount: 2, maxSize: 8000, lowercase: true },
);
await Deno.writeTextFile(join(data, "vocabulary.json"), JSON.stringify(vocabulary));

/** Runs a task file to its end with a client per data file; its last round's metrics. */
async function federate(name: string, file: Record<string, unknown>): Promise<RoundMetrics[]> {
  await Deno.writeTextFile(join(out, `${name}.yaml`), stringify(file));
  const task = await resolveTaskFile(file, { baseDir: out, source: join(out, `${name}.yaml`) });
  const coordinator = await startCoordinator({
    tasks: [task],
    runDir: join(out, name),
    onRound: (_id, m) =>
      console.log(
        `${name} round ${m.round}: ${m.clients} clients, ` +
          (task.config.input.sequence?.kind === "masked-language-model"
            ? `masked-token perplexity ${m.perplexity?.toFixed(1)}`
            : `holdout accuracy ${(100 * m.accuracy!).toFixed(2)}%`) +
          (m.clients ? `, ${Math.round(m.bytesReceived / m.clients)} bytes an update` : "") +
          ` (${elapsed()})`,
      ),
  });
  try {
    const enrolmentToken = coordinator.auth.createEnrolmentToken();
    const workers = await Promise.all(files.map(async (path, i) =>
      spawnClientWorker({
        coordinator: coordinator.url,
        dataset: await readDataset(path, task.config.input),
        clientId: `client-${i + 1}`,
        enrolmentToken,
        seed: i,
      })
    ));
    await Promise.all([coordinator.federation.finished, ...workers.map((w) => w.done)]);
    return coordinator.federation.status().history;
  } finally {
    await coordinator.shutdown();
  }
}

const training = (learningRate: number) => ({
  localSteps,
  labeledBatchSize: 16,
  unlabeledBatchSize: 16,
  learningRate,
});
const schedule = (total: number) => ({ total, targetClients: clients, minClients: clients });

// 2. Pretraining: masked tokens on every client's text; no label is read.
if (!args.scratch) {
  console.log(
    `pretraining: ${clients} clients, ${pretrainRounds} rounds of masked-token prediction (R-Drop)`,
  );
  await federate("pretraining", {
    id: "pretraining",
    model: { transformer: TRANSFORMER },
    input: {
      sequence: {
        kind: "masked-language-model",
        maxLength: MAX_LENGTH,
        vocabulary: "./data/vocabulary.json",
      },
    },
    training: { ...training(0.003), unlabeledBatchSize: 0 },
    rounds: schedule(pretrainRounds),
    holdout: "./data/holdout.jsonl",
  });
}

// 3. Fine-tuning: the classifier starts from the pretrained weights and vocabulary, a fresh head.
const final = "./pretraining/pretraining/final";
const described = args.scratch
  ? "every weight, from scratch"
  : rank === undefined
  ? "every weight"
  : `LoRA rank ${rank} on the attention projections, the head in full`;
console.log(`fine-tuning (${described}), ${labeled * 100}% of the e-mails labelled`);
const history = await federate("fine-tuning", {
  id: "fine-tuning",
  model: {
    transformer: TRANSFORMER,
    ...(args.scratch ? {} : { weights: `${final}/model.safetensors` }),
    ...(rank === undefined ? {} : {
      lora: {
        rank,
        alpha: 2 * rank,
        targets: ATTENTION_PROJECTIONS,
        modulesToSave: ["logits"],
      },
    }),
  },
  input: {
    labels: LABELS,
    sequence: {
      kind: "sequence-classification",
      maxLength: MAX_LENGTH,
      vocabulary: args.scratch ? "./data/vocabulary.json" : `${final}/vocabulary.json`,
    },
  },
  training: training(0.002),
  rounds: schedule(rounds),
  holdout: "./data/holdout.jsonl",
});
const first = history[0]!;
const last = history.at(-1)!;
const sent = history.find((m) => m.clients > 0)!;
console.log(
  `done in ${elapsed()}: holdout accuracy ${(100 * first.accuracy!).toFixed(2)}% -> ${
    (100 * last.accuracy!).toFixed(2)
  }% with ${described}, ${Math.round(sent.bytesReceived / sent.clients)} bytes an update\n` +
    `wrote ${out}: data/, ${args.scratch ? "" : "pretraining.yaml, "}fine-tuning.yaml, ${
      args.scratch ? "" : "pretraining/ (final/model.safetensors, final/vocabulary.json), "
    }fine-tuning/ (${rank === undefined ? "final/" : "final-adapter/ (PEFT), final-merged/"})`,
);
