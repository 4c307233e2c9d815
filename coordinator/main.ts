/**
 * The coordinator CLI.
 *
 * `deno task coordinator [--task mnist-mlp|FILE.json] [--port 8787] [--run-dir DIR] ...`
 * @module
 */
import { join } from "node:path";
import type { Dataset } from "../shared/dataset.ts";
import { formatOf, parseDataFile } from "../shared/data_file.ts";
import { loadMnistSplit } from "../shared/mnist.ts";
import { formatZodError, type TaskConfig, TaskConfigSchema } from "../shared/schemas.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
import { fail, numberFlag, parseFlags } from "../client/cli.ts";
import { startCoordinator } from "./serve.ts";

const HELP = `Usage: deno task coordinator [options]

Serves a task's global model and runs synchronous FedAvg rounds.

Options:
  --task NAME|FILE      built-in "mnist-mlp" (default) or a task JSON file
  --holdout FILE        labeled rows (.jsonl/.csv) to evaluate on (mnist-mlp has its own)
  --port N              port (default 8787; 0 for a free one)
  --host ADDR           interface (default 127.0.0.1)
  --run-dir DIR         where checkpoints go (default runs/<task>-<time>)
  --rounds N            override rounds.total
  --target-clients N    override rounds.targetClients
  --min-clients N       override rounds.minClients
  --round-timeout S     override rounds.timeoutSeconds
  --linger S            keep serving S seconds after the last round (default 5)
  -h, --help            this help`;

const args = parseFlags(
  Deno.args,
  [
    "task",
    "holdout",
    "port",
    "host",
    "run-dir",
    "rounds",
    "target-clients",
    "min-clients",
    "round-timeout",
    "linger",
  ],
  HELP,
);

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    fail(`cannot read "${path}": ${error instanceof Error ? error.message : error}`);
  }
}

let base: TaskConfig;
let holdout: Dataset | undefined;
const taskArg = args.task ?? "mnist-mlp";
if (taskArg === "mnist-mlp") {
  base = mnistMlpTask();
  holdout = (await loadMnistSplit()).holdout;
} else {
  let json: unknown;
  try {
    json = JSON.parse(await readText(taskArg));
  } catch (error) {
    fail(`task file "${taskArg}" is not JSON: ${error instanceof Error ? error.message : error}`);
  }
  const parsed = TaskConfigSchema.safeParse(json);
  if (!parsed.success) fail(`task file "${taskArg}": ${formatZodError(parsed.error)}`);
  base = parsed.data;
}
if (args.holdout) {
  try {
    holdout = parseDataFile(await readText(args.holdout), {
      format: formatOf(args.holdout),
      featureShape: base.input.shape,
      labels: base.input.labels,
    });
  } catch (error) {
    fail(`${args.holdout}: ${error instanceof Error ? error.message : error}`);
  }
}

const overrides = {
  total: numberFlag("rounds", args.rounds, base.rounds.total),
  targetClients: numberFlag("target-clients", args["target-clients"], base.rounds.targetClients),
  minClients: numberFlag("min-clients", args["min-clients"], base.rounds.minClients),
  timeoutSeconds: numberFlag("round-timeout", args["round-timeout"], base.rounds.timeoutSeconds),
};
const checked = TaskConfigSchema.safeParse({ ...base, rounds: overrides });
if (!checked.success) fail(formatZodError(checked.error));
const task = checked.data;
const port = numberFlag("port", args.port, 8787, { min: 0, max: 65535, integer: true });
const linger = numberFlag("linger", args.linger, 5, { min: 0 });
const runDir = args["run-dir"] ??
  join("runs", `${task.id}-${new Date().toISOString().replace(/[:.]/g, "-")}`);

const coordinator = await startCoordinator({
  task,
  holdout,
  runDir,
  port,
  hostname: args.host ?? "127.0.0.1",
  onRound: (m) =>
    console.log(
      `round ${m.round}: ${m.clients} clients, ${m.numLabeled} labeled + ${m.numUnlabeled} unlabeled, ` +
        (m.accuracy === null
          ? "no holdout"
          : `accuracy ${(100 * m.accuracy).toFixed(2)}%, loss ${m.loss?.toFixed(4)}`) +
        `, ${m.seconds.toFixed(1)} s${m.checkpoint ? `, checkpoint ${m.checkpoint}` : ""}`,
    ),
}).catch((error) => fail(error instanceof Error ? error.message : String(error)));
console.log(
  `coordinator: task "${task.id}" at ${coordinator.url} (${task.rounds.total} rounds, ${task.rounds.targetClients} clients a round), run dir ${runDir}`,
);
Deno.addSignalListener("SIGINT", async () => {
  await coordinator.shutdown();
  Deno.exit(130);
});
await coordinator.federation.finished;
console.log(`finished: final model ${coordinator.federation.status().history.at(-1)?.checkpoint}`);
if (linger > 0) await new Promise((resolve) => setTimeout(resolve, linger * 1000));
await coordinator.shutdown();
