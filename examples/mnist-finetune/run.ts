/**
 * The worked example, all in one: pretrains the CNN if needed, then serves
 * task.yaml on a coordinator and runs one client per data shard (in workers,
 * over HTTP) until the fine-tuning is done. Prints the accuracy on digits 5-9
 * before and after, and the bytes of an update with and without freezing.
 *
 * `deno task finetune [--rounds N]`
 * @module
 */
import { join } from "node:path";
import { numberFlag, parseFlags } from "../../client/cli.ts";
import { readDataset } from "../../client/read_data.ts";
import { spawnClientWorker } from "../../client/spawn_worker.ts";
import { loadTaskFile } from "../../coordinator/load_task.ts";
import { startCoordinator } from "../../coordinator/serve.ts";
import { selectRows } from "../../shared/dataset.ts";
import { loadMnistSplit } from "../../shared/mnist.ts";
import { buildModel, writeWeights } from "../../shared/model.ts";
import { decodeSafetensors, encodeSafetensors } from "../../shared/safetensors.ts";
import { accuracy, digits } from "./pretrain.ts";

const HELP = `Usage: deno task finetune [--rounds N]

Federated fine-tuning of the pretrained CNN on digits 5-9 (see README).`;
const args = parseFlags(Deno.args, ["rounds"], HELP);
const dir = join("examples", "mnist-finetune");

if (!(await Deno.stat(join(dir, "pretrained", "model.json")).catch(() => null))) {
  console.log("no pretrained model yet: running deno task pretrain first");
  const pretrain = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      join(dir, "pretrain.ts"),
    ],
  });
  if (!(await pretrain.spawn().status).success) Deno.exit(1);
}

const task = await loadTaskFile(join(dir, "task.yaml"));
task.config.rounds.total = numberFlag("rounds", args.rounds, task.config.rounds.total, {
  min: 1,
  integer: true,
});
const shards: string[] = [];
for await (const entry of Deno.readDir(join(dir, "data"))) {
  if (/^client-\d+\.jsonl$/.test(entry.name)) shards.push(join(dir, "data", entry.name));
}
shards.sort();
task.config.rounds.targetClients = shards.length;

const runDir = join("runs", `finetune-${new Date().toISOString().replace(/[:.]/g, "-")}`);
const coordinator = await startCoordinator({
  tasks: [task],
  runDir,
  onRound: (_id, m) =>
    console.log(
      `round ${m.round}: ${m.clients} clients, ${m.numLabeled} labeled + ${m.numUnlabeled} unlabeled, ` +
        `accuracy on digits 5-9 ${(100 * m.accuracy!).toFixed(2)}%, ` +
        (m.clients ? `${Math.round(m.bytesReceived / m.clients)} bytes per update, ` : "") +
        `${m.seconds.toFixed(1)} s`,
    ),
});
const clients = await Promise.all(shards.map(async (path, i) => {
  const dataset = await readDataset(path, task.config.input);
  return spawnClientWorker({
    coordinator: coordinator.url,
    dataset,
    clientId: `client-${i + 1}`,
    seed: i,
  });
}));
await Promise.all([coordinator.federation.finished, ...clients.map((c) => c.done)]);
const status = coordinator.federation.status();
const finalWeights = decodeSafetensors(coordinator.federation.globalModel().safetensors).tensors;
await coordinator.shutdown();

// What the fine-tuned model still knows of digits 0-4 (which no client holds).
const { holdout } = await loadMnistSplit();
const model = await buildModel(task.config.model.topology);
writeWeights(model, finalWeights);
const oldDigits = accuracy(model, selectRows(holdout, digits(holdout, 0, 4)));
model.dispose();

// The update of the same model with nothing frozen, for comparison.
const all = new Map(task.weights!);
const fullBytes = encodeSafetensors(all, {
  round: "1",
  baseVersion: "0",
  numLabeled: "1",
  numUnlabeled: "1",
}).byteLength;
const first = status.history[0]!;
const last = status.history.at(-1)!;
const sent = status.history.find((h) => h.clients > 0)!;
console.log(
  `fine-tuned: accuracy on digits 5-9 ${(100 * first.accuracy!).toFixed(2)}% -> ${
    (100 * last.accuracy!).toFixed(2)
  }% (digits 0-4, which no client holds: ${(100 * oldDigits).toFixed(2)}%); an update is ${
    Math.round(sent.bytesReceived / sent.clients)
  } bytes with the frozen layers of task.yaml, ` +
    `${fullBytes} bytes with nothing frozen; final model ${status.finalModel}`,
);
