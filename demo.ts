/**
 * The main job: a coordinator on a free port and K clients in workers train
 * the `mnist-mlp` task with R-Drop over real HTTP, one line per round.
 *
 * `deno task demo [--clients 8] [--rounds 10] [--beta 0.5|iid] [--labeled 0.1] [--seed 0] [--run-dir DIR] [--tls] [--secure-aggregation]`
 * @module
 */
import { join } from "node:path";
import { betaFlag, fail, numberFlag, parseFlags } from "./shared/cli.ts";
import { spawnClientWorker } from "./client/spawn_worker.ts";
import { startCoordinator } from "./coordinator/serve.ts";
import { dashboardLink } from "./coordinator/endpoint/join_link.ts";
import { writeDevCertificates } from "./coordinator/endpoint/dev_cert.ts";
import { countRows, selectRows } from "./shared/data/dataset.ts";
import { loadMnistSplit } from "./shared/data/mnist.ts";
import { partition } from "./shared/data/partition.ts";
import { mnistMlpTask } from "./shared/tasks/mnist_mlp.ts";
import { SecureAggregationSchema } from "./shared/schemas/mod.ts";
import { secureParams } from "./shared/secagg/params.ts";

const HELP = `Usage: deno task demo [options]

Federated R-Drop on MNIST: a coordinator and K clients on this machine.

Options:
  --clients N       clients (default 8)
  --rounds N        rounds (default 10)
  --beta B|iid      Dirichlet concentration of the label skew (default 0.5)
  --labeled F       fraction of each client's rows that keep labels (default 0.1)
  --local-steps N   local R-Drop steps per round (default from the task)
  --alpha A         weight of the KL term (default from the task)
  --seed N          seed of the split and partition (default 0)
  --run-dir DIR     where checkpoints go (default runs/demo-<time>)
  --tls             the same over HTTPS: a development CA and certificate for localhost in
                    RUN_DIR/.certs, which the clients trust (--ca-cert's way)
  --secure-aggregation
                    the same with secure aggregation (SecAgg+): each client sends a masked
                    input and the coordinator learns only the round's sum
  -h, --help        this help`;

const args = parseFlags(
  Deno.args,
  ["clients", "rounds", "beta", "labeled", "local-steps", "alpha", "seed", "run-dir"],
  HELP,
  { booleans: ["tls", "secure-aggregation"] },
);
const clients = numberFlag("clients", args.clients, 8, { min: 1, integer: true });
const rounds = numberFlag("rounds", args.rounds, 10, { min: 1, integer: true });
const labeledFraction = numberFlag("labeled", args.labeled, 0.1, { min: 0, max: 1 });
const seed = numberFlag("seed", args.seed, 0, { integer: true });
const beta = betaFlag("beta", args.beta, 0.5);
const alpha = numberFlag("alpha", args.alpha, undefined, { min: 0 });
const localSteps = numberFlag("local-steps", args["local-steps"], undefined, {
  min: 1,
  integer: true,
});
const runDir = args["run-dir"] ??
  join("runs", `demo-${new Date().toISOString().replace(/[:.]/g, "-")}`);

const started = performance.now();
const task = {
  ...mnistMlpTask({
    rounds: { total: rounds, targetClients: clients, minClients: 1 },
    training: {
      ...(alpha === undefined ? {} : { alpha }),
      ...(localSteps === undefined ? {} : { localSteps }),
    },
  }),
  ...(args["secure-aggregation"] ? { secureAggregation: SecureAggregationSchema.parse({}) } : {}),
};
const { train, holdout } = await loadMnistSplit({ seed });
const parts = partition(train.labels, [...train.labels.keys()], {
  clients,
  beta,
  labeledFraction,
  seed,
});
console.log(
  `mnist-mlp: ${train.labels.length} train / ${holdout.labels.length} holdout digits, ${clients} clients, ` +
    `${beta === "iid" ? "IID" : `Dirichlet(${beta})`}, ${
      labeledFraction * 100
    }% labeled, ${rounds} rounds`,
);

if (task.secureAggregation) {
  const p = secureParams(task.secureAggregation, task.rounds);
  console.log(
    `secure aggregation: each secret ${p.threshold}-of-${
      p.degree + 1
    } (${p.degree} neighbours), values clipped to ±${p.clipRange}, sums modulo 2^${p.bits}`,
  );
}
const pad = (value: string | number, width: number) => String(value).padStart(width);
// Round lines wait until the dashboard link and the header are out.
let pending: string[] | null = [];
const show = (line: string) => pending ? pending.push(line) : console.log(line);
const certs = args.tls
  ? await writeDevCertificates({ dir: join(runDir, ".certs"), hosts: ["localhost", "127.0.0.1"] })
  : null;
const coordinator = await startCoordinator({
  tasks: [{ config: task, holdout }],
  runDir,
  tls: certs
    ? { cert: await Deno.readTextFile(certs.cert), key: await Deno.readTextFile(certs.key) }
    : undefined,
  onRound: (_task, m) => {
    show(
      `${pad(m.round, 5)} ${pad(m.clients, 7)} ${pad(m.numLabeled, 7)} ${pad(m.numUnlabeled, 9)} ${
        pad(m.accuracy === null ? "-" : (100 * m.accuracy).toFixed(2) + "%", 8)
      } ${pad(m.loss === null ? "-" : m.loss.toFixed(4), 7)} ${pad(m.seconds.toFixed(1), 7)}`,
    );
  },
});
console.log(
  `watch it live: ${dashboardLink(coordinator.url, coordinator.adminToken)} (the dashboard)`,
);
console.log(
  `${pad("round", 5)} ${pad("clients", 7)} ${pad("labeled", 7)} ${pad("unlabeled", 9)} ${
    pad("accuracy", 8)
  } ${pad("loss", 7)} ${pad("seconds", 7)}`,
);
for (const line of pending) console.log(line);
pending = null;

// Authentication stays on: each client enrols with an enrolment token and
// then uses its own bearer token.
const enrolmentToken = coordinator.auth.createEnrolmentToken();
const caCert = certs ? await Deno.readTextFile(certs.caCert) : undefined;
if (certs) console.log(`HTTPS at ${coordinator.url}, certificate by the CA in ${certs.caCert}`);
const workers = parts.map((part, i) => {
  const dataset = selectRows(train, part.rows, { hideLabels: part.unlabeledRows });
  const { numLabeled, numUnlabeled } = countRows(dataset);
  if (numLabeled + numUnlabeled === 0) fail(`client ${i + 1} got no rows`);
  return spawnClientWorker({
    coordinator: coordinator.url,
    dataset,
    clientId: `client-${i + 1}`,
    enrolmentToken,
    caCert,
    seed: seed * 1000 + i,
  });
});

try {
  await Promise.all([coordinator.federation.finished, ...workers.map((w) => w.done)]);
} catch (error) {
  console.error(`error: ${error instanceof Error ? error.message : error}`);
  workers.forEach((w) => w.terminate());
  await coordinator.shutdown();
  Deno.exit(1);
}
await coordinator.shutdown();
const status = coordinator.federation.status();
const last = status.history.at(-1);
const trained = status.history.slice(1);
const perClient = trained.reduce((n, h) => n + h.bytesReceived / Math.max(1, h.clients), 0) /
  Math.max(1, trained.length);
console.log(
  `${(perClient / 1024).toFixed(0)} KiB received per client a round${
    task.secureAggregation ? " (masked inputs)" : ""
  }; ${
    (trained.reduce((n, h) => n + h.seconds, 0) / Math.max(1, trained.length)).toFixed(1)
  } s a round`,
);
console.log(
  `done in ${((performance.now() - started) / 1000).toFixed(1)} s: holdout accuracy ${
    ((last?.accuracy ?? 0) * 100).toFixed(2)
  }%, final model ${status.finalModel}`,
);
