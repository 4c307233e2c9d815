/**
 * The client CLI: joins a coordinator and trains on a data file each round.
 *
 * `deno task client --coordinator URL (--data PATH | --mnist-shard I/K) [--backend auto|tensorflow|webgpu|wasm|cpu] [--id NAME]`,
 * or under Node.js `node client/node/dist/client.mjs ...` (built by `deno task build-node`).
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { countRows, type Dataset, selectRows } from "../shared/data/dataset.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import { partition } from "../shared/data/partition.ts";
import { encodeSafetensors } from "../shared/wire/safetensors.ts";
import { type BackendChoice, BACKENDS, startBackend } from "./training/backend.ts";
import { betaFlag, fail, numberFlag, parseFlags } from "../shared/cli.ts";
import { CoordinatorClient, CoordinatorError } from "./link/coordinator_client.ts";
import { readDataset } from "../shared/data/read_data.ts";
import { runClient } from "./run_client.ts";
import { fetchTrusting, readTrustedCa, rerunTrustingCa } from "./link/trust.ts";

const HELP = `Usage: deno task client --coordinator URL (--data PATH | --mnist-shard I/K) [options]

Joins a federation and trains on local data with R-Drop each round; only weight
deltas leave this machine.

Options:
  --coordinator URL   the coordinator, e.g. https://fl.example.org:8787 (required)
  --ca-cert FILE      trust the certificate authority in FILE (PEM) for the coordinator's
                      HTTPS certificate, besides the system's (default: $FL_CA_CERT)
  --task ID           the task to join (default: the coordinator's default task)
  --data PATH         rows as .jsonl or .csv (see docs/tasks-and-data.md), or a folder of images
                      (image tasks) or .txt files (text tasks): one sub-folder per label, or a
                      labels.csv (file,label); rows without a label are unlabeled
  --mnist-shard I/K   instead of --data: shard I of K of the built-in MNIST train split
  --beta B|iid        label skew of --mnist-shard (default 0.5)
  --labeled F         labeled fraction of --mnist-shard (default 0.1)
  --backend NAME      auto (default: the first of tensorflow, webgpu on a hardware adapter,
                      wasm, cpu that starts), or one of tensorflow, webgpu, wasm, cpu
  --id NAME           client id sent with updates (default: random, or the enrolled one)
  --token T           this client's bearer token (default: $FL_TOKEN)
  --enrolment-token E enrol first with this enrolment token (default: $FL_ENROLMENT_TOKEN)
  --token-file PATH   where the enrolled id and token are kept (read if it exists, else
                      written after enrolling), so a restart rejoins as the same client
  --vocabulary HASH   a sequence task: the vocabulary (SHA-256) this client's rows are for;
                      a task serving another is refused with both hashes (default: take
                      the task's, and tokenize --data with it)
  --seed N            seed of batch sampling and of --mnist-shard (default 0); given, the
                      dropout masks follow it too, mixed with the client id, so a run
                      reproduces; without it each client draws its masks from fresh entropy
  --keep-deltas DIR   keep this client's own plain delta of each round in
                      DIR/round-NNNN.safetensors (with its row counts), e.g. to check a
                      secure task's global against what this client sent
  -h, --help          this help`;

const args = parseFlags(
  process.argv.slice(2),
  [
    "coordinator",
    "task",
    "data",
    "mnist-shard",
    "beta",
    "labeled",
    "backend",
    "id",
    "seed",
    "token",
    "enrolment-token",
    "token-file",
    "ca-cert",
    "keep-deltas",
    "vocabulary",
  ],
  HELP,
);
const caFile = args["ca-cert"] ?? process.env.FL_CA_CERT;
// Node.js reads extra CAs only at start: run again with NODE_EXTRA_CA_CERTS (no-op on Deno).
if (caFile) await rerunTrustingCa(caFile);
const trustedFetch = caFile
  ? fetchTrusting(await readTrustedCa(caFile).catch((error) => fail(error.message)))
  : undefined;
if (!args.coordinator) fail(`--coordinator is required\n\n${HELP}`);
if (!args.data === !args["mnist-shard"]) {
  fail(`give exactly one of --data and --mnist-shard\n\n${HELP}`);
}
const backendName = (args.backend ?? "auto") as BackendChoice;
if (backendName !== "auto" && !BACKENDS.includes(backendName)) {
  fail(`--backend "${args.backend}" is not auto or one of ${BACKENDS.join(", ")}`);
}
// --seed fixes batches and the shard; the dropout masks follow it only when given.
const seed = numberFlag("seed", args.seed, 0, { integer: true });
const dropoutSeeded = args.seed !== undefined;
// The backend first: a backend that cannot start fails before anything else.
const backend = await startBackend(backendName).catch((error) => fail(error.message));
for (const { name, reason } of backend.skipped) {
  console.log(`client: backend ${name} not used: ${reason}`);
}

let clientId = args.id;
let token = args.token ?? process.env.FL_TOKEN;
const enrolmentToken = args["enrolment-token"] ?? process.env.FL_ENROLMENT_TOKEN;
const tokenFile = args["token-file"];
if (!token && tokenFile) {
  try {
    const saved = JSON.parse(await readFile(tokenFile, "utf8"));
    if (typeof saved?.token !== "string" || typeof saved?.clientId !== "string") {
      throw new Error("not {clientId, token}");
    }
    ({ clientId, token } = saved);
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT") {
      fail(`--token-file "${tokenFile}": ${error instanceof Error ? error.message : error}`);
    }
  }
}
if (!token && enrolmentToken) {
  try {
    ({ clientId, token } = await CoordinatorClient.enrol(args.coordinator, {
      enrolmentToken,
      clientId,
      fetch: trustedFetch,
    }));
  } catch (error) {
    fail(`cannot enrol: ${error instanceof Error ? error.message : error}`);
  }
  console.log(`enrolled as "${clientId}"`);
  if (tokenFile) {
    await writeFile(tokenFile, JSON.stringify({ clientId, token }), { mode: 0o600 });
  }
}
const api = new CoordinatorClient(args.coordinator, {
  taskId: args.task,
  token,
  fetch: trustedFetch,
});
let task;
try {
  task = await api.task();
} catch (error) {
  if (error instanceof CoordinatorError) fail(error.message);
  fail(
    `cannot reach coordinator "${args.coordinator}": ${
      error instanceof Error ? error.message : error
    }`,
  );
}

let dataset: Dataset;
if (args.data) {
  try {
    dataset = await readDataset(args.data, task.input);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
} else {
  const match = /^(\d+)\/(\d+)$/.exec(args["mnist-shard"]!);
  const [index, count] = match ? [Number(match[1]), Number(match[2])] : [0, 0];
  if (!match || index < 1 || index > count) {
    fail(`--mnist-shard "${args["mnist-shard"]}" is not I/K with 1 <= I <= K`);
  }
  const beta = betaFlag("beta", args.beta, 0.5);
  const { train } = await loadMnistSplit({ seed });
  const part = partition(train.labels, [...train.labels.keys()], {
    clients: count,
    beta,
    labeledFraction: numberFlag("labeled", args.labeled, 0.1, { min: 0, max: 1 }),
    seed,
  })[index - 1]!;
  dataset = selectRows(train, part.rows, { hideLabels: part.unlabeledRows });
}

const counts = countRows(dataset);
console.log(
  `client: task "${task.id}", ${counts.numLabeled} labeled + ${counts.numUnlabeled} unlabeled rows, backend ${backend.name}${
    backend.device ? ` (${backend.device})` : ""
  } on ${backend.runtime}`,
);
// A progress bar on a terminal; plain lines, one a round, otherwise (CI logs).
const tty = process.stdout.isTTY === true;
const batch = task.training.labeledBatchSize + task.training.unlabeledBatchSize;
let roundStart = 0;
try {
  await runClient({
    coordinator: args.coordinator,
    taskId: args.task,
    dataset,
    clientId,
    token,
    fetch: trustedFetch,
    seed: dropoutSeeded ? seed : undefined,
    vocabularyHash: args.vocabulary,
    backend: backend.name,
    device: backend.device,
    runtime: backend.runtime,
    onDelta: args["keep-deltas"]
      ? (round, delta) => {
        const dir = args["keep-deltas"]!;
        mkdirSync(dir, { recursive: true });
        writeFileSync(
          join(dir, `round-${String(round).padStart(4, "0")}.safetensors`),
          encodeSafetensors(delta, { round: String(round), ...stringCounts(counts) }),
        );
      }
      : undefined,
    onEvent(event) {
      switch (event.kind) {
        case "step": {
          if (!tty) break;
          const { step, totalSteps, loss, ce, kl } = event.progress;
          const now = performance.now();
          if (step === 1) roundStart = now;
          // Examples a second: the rows of the steps so far (each step draws one batch).
          const rate = step > 1 ? ((step - 1) * batch * 1000) / (now - roundStart) : 0;
          const width = 24;
          const done = Math.round((step / totalSteps) * width);
          const bar = "#".repeat(done) + "-".repeat(width - done);
          process.stdout.write(
            `\r\x1b[Kround ${event.round} [${bar}] ${step}/${totalSteps} loss ${
              loss.toFixed(3)
            } (ce ${ce.toFixed(3)}, kl ${kl.toFixed(4)})${
              rate ? `, ${rate.toFixed(0)} examples/s` : ""
            }`,
          );
          break;
        }
        case "sent":
          if (tty) process.stdout.write("\r\x1b[K");
          console.log(
            `round ${event.round}: ${event.result.steps} steps in ${
              event.result.seconds.toFixed(1)
            } s, ce ${event.result.ce.toFixed(4)}, kl ${event.result.kl.toFixed(4)}${
              fusedKernels(event.result.fusedKernels)
            }; ${
              event.secure
                ? "masked input summed (secure aggregation)"
                : `update accepted (${event.received}/${event.targetClients})`
            }`,
          );
          break;
        case "rejected":
          console.log(`round ${event.round}: update refused (${event.status}): ${event.message}`);
          break;
        case "retry":
          console.log(`${event.message}; retrying in ${event.delayMs} ms`);
          break;
        case "finished":
          console.log("the run is finished");
      }
    },
  });
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}

/** The fused SIMD kernels a round's training ran, where it ran any. */
function fusedKernels({ adam, dropout }: { adam: number; dropout: number }): string {
  return adam + dropout > 0
    ? ` (fused kernels: ${adam} Adam updates, ${dropout} dropout masks)`
    : "";
}

function stringCounts(counts: { numLabeled: number; numUnlabeled: number }) {
  return { numLabeled: String(counts.numLabeled), numUnlabeled: String(counts.numUnlabeled) };
}
