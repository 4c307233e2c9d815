/**
 * The coordinator CLI.
 *
 * `deno task coordinator [--task mnist-mlp|FILE.yaml ...] [--port 8787] [--run-dir DIR] ...`
 * @module
 */
import { join } from "node:path";
import { loadMnistSplit } from "../shared/mnist.ts";
import {
  AggregationConfigSchema,
  formatZodError,
  type PrivacyConfig,
  RoundConfigSchema,
  type SecureAggregationConfig,
  STRATEGIES,
} from "../shared/schemas.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
import { fail, keyValueFlag, numberFlag, parseFlags } from "../client/cli.ts";
import { type LoadedTask, loadTaskFile } from "./load_task.ts";
import { startCoordinator } from "./serve.ts";
import { createLogger, LOG_LEVELS, type LogLevel } from "./log.ts";
import { connectUpstream } from "./edge.ts";
import { CLIENT_PAGE_DIR } from "./client_page.ts";
import { listenFlags, logRefusals } from "./_listen_flags.ts";
import { privacySettingsFlag, secureAggregationFlag } from "./_task_flags.ts";
import { dashboardLink, joinLink, qrTerminal } from "./join_link.ts";
import { isLoopback } from "./public_url.ts";
import { fetchTrusting, readTrustedCa } from "../client/trust.ts";

const HELP = `Usage: deno task coordinator [options]

Serves tasks' global models and runs federated rounds (sync) or buffers
(async, FedBuff) for each, aggregated by the task's strategy.

Options:
  --task NAME|FILE      built-in "mnist-mlp" (default) or a task file (.yaml, .yml, .json);
                        repeat it to serve several tasks (the first is the default task)
  --port N              port (default 8787; 0 for a free one)
  --host ADDR           interface (default 127.0.0.1; 0.0.0.0 for every interface)
  --tls-cert FILE       serve HTTPS with this certificate chain (PEM; with --tls-key; default
                        $FL_TLS_CERT). deno task dev-cert --host NAME makes one for development
  --tls-key FILE        the certificate's private key (PEM; default $FL_TLS_KEY)
  --public-url URL      the address devices use to reach this coordinator, for the join link,
                        its QR code and the dashboard link (default: the protocol, --host, or
                        for 0.0.0.0 this machine's network address, and --port; $FL_PUBLIC_URL)
  --run-dir DIR         the run's state (state.db) and checkpoints, one folder per task
                        (default runs/coordinator-<time>); start again with the same DIR
                        to resume where it stopped
  --admin-token T       the admin token (default: $FL_ADMIN_TOKEN, else the saved one, else
                        a new one, printed once)
  --enrolment-token T   a standing enrolment token (default: $FL_ENROLMENT_TOKEN, else a new
                        one is printed at each start)
  --insecure            no authentication at all: anyone may submit, create or stop tasks
  --cors-origin URL     allow browser pages from this origin (repeatable)
  --max-uploads N       uploads read at once (default 16; one per client)
  --upload-queue N      uploads that wait their turn, bodies unread (default 1024); then 503
  --rate R              requests a second per client (default 50, burst 2R)
  --upload-timeout S    seconds an update's body may take to arrive (default 120)
  --header-timeout S    seconds a client has to send a request's headers (default 10)
  --request-timeout S   seconds a whole request may take, queueing included (default 300)
  --keep-alive-timeout S
                        seconds an idle keep-alive connection stays open (default 5)
  --max-connections N   connections open at once; more are closed at once (default 4096;
                        keep it under the process's open-file limit, ulimit -n)
  --max-connections-per-address N
                        connections open at once from one address (default 256; raise it
                        when many devices share one address behind a NAT)
  --rounds N            override rounds.total of every task
  --target-clients N    override rounds.targetClients of every task
  --min-clients N       override rounds.minClients of every task
  --round-timeout S     override rounds.timeoutSeconds of every task
  --fraction F          override rounds.fraction (share of clients drawn per sync round)
  --min-available N     override rounds.minAvailable (clients needed before rounds start)
  --mode sync|async     override rounds.mode of every task
  --buffer-size K       override rounds.bufferSize (async) of every task
  --max-staleness N     override rounds.maxStaleness (async) of every task
  --strategy NAME       override aggregation.strategy of every task: ${STRATEGIES.join(", ")}
  --aggregation K=V,... the strategy's settings, e.g. trimBeta=0.25 or krumF=2,krumM=6
  --linger S            keep serving S seconds after the last round (default 5)
  --upstream URL        edge mode: serve the task and global model of the cloud coordinator at
                        URL to this edge's clients, run rounds over their updates (sized by
                        --target-clients, --min-clients, --round-timeout) and send the cloud one
                        combined update a round, with the summed example counts
  --upstream-token T    this edge's client token at the cloud (default: $FL_UPSTREAM_TOKEN)
  --upstream-enrolment-token E
                        or: enrol at the cloud with this enrolment token (default:
                        $FL_UPSTREAM_ENROLMENT_TOKEN) and keep the token in RUN_DIR
  --edge-id NAME        the client id to enrol the edge under (default: a random one)
  --ca-cert FILE        trust the certificate authority in FILE (PEM) for the cloud's HTTPS
                        certificate, besides the system's (default: $FL_CA_CERT)
  --secure-aggregation [K=V,...]
                        secure aggregation (SecAgg+): clients send masked inputs and this
                        coordinator learns only their sum; settings threshold, neighbours,
                        clipRange, bits, maxWeight, stageTimeoutSeconds (default: the task's,
                        else defaults). With --upstream: between this edge and its devices
  --privacy K=V,...     client-level differential privacy (DP-FedAvg) with epsilon each round:
                        mode=central|distributed (distributed with --secure-aggregation),
                        noiseMultiplier, clip, delta, maxEpsilon, population, and adaptive
                        clipping with adaptive=true or targetQuantile, learningRate, countStd
                        (over the task's own privacy settings)
  --keep-updates        keep a copy of every accepted update, as sent, under
                        RUN_DIR/<task>/updates/round-NNNN/<client>.safetensors
  --log-format F        text (default) or json: one JSON object a line, with the round's metrics
  --log-level L         debug, info (default), warn or error
  -h, --help            this help`;

// `--secure-aggregation` takes an optional K=V,... value.
const argv = Deno.args.flatMap((arg, i, all) =>
  arg === "--secure-aggregation" && !(all[i + 1] ?? "").includes("=")
    ? ["--secure-aggregation="]
    : [arg]
);
const args = parseFlags(
  argv,
  [
    "port",
    "host",
    "log-format",
    "log-level",
    "upstream",
    "upstream-token",
    "upstream-enrolment-token",
    "edge-id",
    "ca-cert",
    "run-dir",
    "rounds",
    "target-clients",
    "min-clients",
    "round-timeout",
    "fraction",
    "min-available",
    "mode",
    "buffer-size",
    "max-staleness",
    "strategy",
    "aggregation",
    "linger",
    "admin-token",
    "enrolment-token",
    "max-uploads",
    "upload-queue",
    "rate",
    "upload-timeout",
    "tls-cert",
    "tls-key",
    "public-url",
    "header-timeout",
    "request-timeout",
    "keep-alive-timeout",
    "max-connections",
    "max-connections-per-address",
    "secure-aggregation",
    "privacy",
  ],
  HELP,
  { multiple: ["task", "cors-origin"], booleans: ["insecure", "keep-updates"] },
);

async function load(name: string): Promise<LoadedTask> {
  if (name === "mnist-mlp") {
    return { config: mnistMlpTask(), holdout: (await loadMnistSplit()).holdout };
  }
  try {
    return await loadTaskFile(name);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
}

const logFormat = args["log-format"] ?? "text";
if (logFormat !== "text" && logFormat !== "json") {
  fail(`--log-format "${logFormat}" is not text or json`);
}
const logLevel = (args["log-level"] ?? "info") as LogLevel;
if (!LOG_LEVELS.includes(logLevel)) {
  fail(`--log-level "${logLevel}" is not one of ${LOG_LEVELS.join(", ")}`);
}
const log = createLogger({ format: logFormat, level: logLevel });

const runDir = args["run-dir"] ??
  join("runs", `coordinator-${new Date().toISOString().replace(/[:.]/g, "-")}`);
const tasks: LoadedTask[] = [];
const secureFlag = (taskId: string, base: SecureAggregationConfig | undefined) =>
  secureAggregationFlag(taskId, base, args["secure-aggregation"]);
const privacyFlag = (taskId: string, base: PrivacyConfig | undefined) =>
  privacySettingsFlag(taskId, base, args.privacy);
// Edge mode: the task, the global and the rounds' numbering come from the cloud.
const upstreamToken = args["upstream-token"] ?? Deno.env.get("FL_UPSTREAM_TOKEN");
if (args.upstream) {
  const cloudOwned = ["task", "rounds", "strategy", "aggregation", "mode", "buffer-size"]
    .filter((flag) => args[flag as keyof typeof args] !== undefined);
  if (cloudOwned.length) {
    fail(
      `an edge follows its cloud's task: do not give ${
        cloudOwned.map((f) => `--${f}`).join(", ")
      } with --upstream`,
    );
  }
  const upstreamEnrolment = args["upstream-enrolment-token"] ??
    Deno.env.get("FL_UPSTREAM_ENROLMENT_TOKEN");
  if (!upstreamToken && !upstreamEnrolment) {
    fail("--upstream needs --upstream-token or --upstream-enrolment-token");
  }
  const caFile = args["ca-cert"] ?? Deno.env.get("FL_CA_CERT");
  const upstreamCa = caFile
    ? await readTrustedCa(caFile).catch((error) => fail(error.message))
    : undefined;
  const rounds = {
    targetClients: numberFlag("target-clients", args["target-clients"], undefined, {
      min: 1,
      integer: true,
    }),
    minClients: numberFlag("min-clients", args["min-clients"], undefined, {
      min: 1,
      integer: true,
    }),
    timeoutSeconds: numberFlag("round-timeout", args["round-timeout"], undefined, { min: 0.1 }),
  };
  try {
    tasks.push(
      await connectUpstream({
        url: args.upstream,
        token: upstreamToken ?? {
          enrolmentToken: upstreamEnrolment!,
          edgeId: args["edge-id"],
          // A dot file: the run folder holds nothing else before its state.
          tokenFile: join(runDir, ".upstream-token.json"),
        },
        rounds,
        fetch: upstreamCa ? fetchTrusting(upstreamCa) : undefined,
        secureAggregation: secureFlag("edge", undefined),
        onEvent: (message) => log.info(`edge: ${message}`, { event: "upstream" }),
      }),
    );
  } catch (error) {
    fail(`--upstream ${args.upstream}: ${error instanceof Error ? error.message : error}`);
  }
  log.info(`edge: following the cloud at ${args.upstream}, task "${tasks[0]!.config.id}"`);
}
if (!args.upstream && args["ca-cert"]) {
  fail("--ca-cert is for an edge's link to its cloud: give it with --upstream");
}
for (const name of args.upstream ? [] : args.task ?? ["mnist-mlp"]) {
  const task = await load(name);
  const rounds = RoundConfigSchema.safeParse({
    total: numberFlag("rounds", args.rounds, task.config.rounds.total),
    targetClients: numberFlag(
      "target-clients",
      args["target-clients"],
      task.config.rounds.targetClients,
    ),
    minClients: numberFlag("min-clients", args["min-clients"], task.config.rounds.minClients),
    timeoutSeconds: numberFlag(
      "round-timeout",
      args["round-timeout"],
      task.config.rounds.timeoutSeconds,
    ),
    fraction: numberFlag("fraction", args.fraction, task.config.rounds.fraction),
    minAvailable: numberFlag(
      "min-available",
      args["min-available"],
      task.config.rounds.minAvailable,
    ),
    mode: args.mode ?? task.config.rounds.mode,
    bufferSize: numberFlag("buffer-size", args["buffer-size"], task.config.rounds.bufferSize),
    maxStaleness: numberFlag(
      "max-staleness",
      args["max-staleness"],
      task.config.rounds.maxStaleness,
    ),
    staleness: task.config.rounds.staleness,
  });
  if (!rounds.success) fail(`task "${task.config.id}": ${formatZodError(rounds.error)}`);
  // A new strategy starts from its own defaults; --aggregation sets its fields.
  const aggregation = AggregationConfigSchema.safeParse(
    args.strategy || args.aggregation
      ? {
        unlabeledWeight: task.config.aggregation.unlabeledWeight,
        strategy: args.strategy ?? task.config.aggregation.strategy,
        ...(args.aggregation ? keyValueFlag("aggregation", args.aggregation) : {}),
      }
      : task.config.aggregation,
  );
  if (!aggregation.success) {
    fail(`task "${task.config.id}": aggregation: ${formatZodError(aggregation.error)}`);
  }
  if (tasks.some((t) => t.config.id === task.config.id)) {
    fail(`two tasks have the id "${task.config.id}"`);
  }
  tasks.push({
    ...task,
    config: {
      ...task.config,
      rounds: rounds.data,
      aggregation: aggregation.data,
      secureAggregation: secureFlag(task.config.id, task.config.secureAggregation),
      privacy: privacyFlag(task.config.id, task.config.privacy),
    },
  });
}
const port = numberFlag("port", args.port, 8787, { min: 0, max: 65535, integer: true });
const linger = numberFlag("linger", args.linger, 5, { min: 0 });

const adminToken = args["admin-token"] ?? Deno.env.get("FL_ADMIN_TOKEN");
const standingEnrolment = args["enrolment-token"] ?? Deno.env.get("FL_ENROLMENT_TOKEN");
if (args.insecure && (adminToken || standingEnrolment)) {
  fail("--insecure turns tokens off: do not give --admin-token or --enrolment-token with it");
}
const rate = numberFlag("rate", args.rate, 50, { min: 0.01 });
const uploadTimeout = numberFlag("upload-timeout", args["upload-timeout"], 120, { min: 1 });
const { tls, publicUrl, connections } = await listenFlags(args, { uploadTimeout });
const coordinator = await startCoordinator({
  tasks,
  runDir,
  port,
  auth: args.insecure ? "insecure" : { adminToken, enrolmentToken: standingEnrolment },
  corsOrigins: args["cors-origin"],
  limits: {
    requestsPerSecond: rate,
    burst: Math.max(1, Math.ceil(2 * rate)),
    maxConcurrentUploads: numberFlag("max-uploads", args["max-uploads"], 16, {
      min: 1,
      integer: true,
    }),
    uploadQueue: numberFlag("upload-queue", args["upload-queue"], 1024, {
      min: 0,
      integer: true,
    }),
    uploadTimeoutSeconds: uploadTimeout,
  },
  hostname: args.host ?? "127.0.0.1",
  tls,
  publicUrl,
  connections,
  onConnectionRefused: logRefusals(log, connections),
  keepUpdates: args["keep-updates"] ?? false,
  onRound: (taskId, m) =>
    log.info(
      `${taskId} round ${m.round}: ${m.clients} clients, ${m.numLabeled} labeled + ${m.numUnlabeled} unlabeled, ` +
        (m.accuracy === null
          ? "no holdout"
          : `accuracy ${(100 * m.accuracy).toFixed(2)}%, loss ${m.loss?.toFixed(4)}`) +
        `, ${m.seconds.toFixed(1)} s${m.checkpoint ? `, checkpoint ${m.checkpoint}` : ""}` +
        (m.privacy
          ? `, epsilon ${m.privacy.epsilon.toFixed(3)} at delta ${m.privacy.delta.toPrecision(3)}`
          : ""),
      {
        event: "round",
        task: taskId,
        round: m.round,
        version: m.version,
        clients: m.clients,
        numLabeled: m.numLabeled,
        numUnlabeled: m.numUnlabeled,
        accuracy: m.accuracy,
        loss: m.loss,
        federatedAccuracy: m.federated?.accuracy ?? null,
        seconds: m.seconds,
        aggregationSeconds: m.aggregationSeconds ?? null,
        evaluationSeconds: m.evaluationSeconds ?? null,
        bytesReceived: m.bytesReceived,
        failures: m.failures.length,
        keptBecause: m.keptBecause,
        checkpoint: m.checkpoint,
        ...(m.privacy ? { epsilon: m.privacy.epsilon, delta: m.privacy.delta } : {}),
      },
    ),
}).catch((error) => fail(error instanceof Error ? error.message : String(error)));
for (const task of tasks) {
  const { id, rounds } = task.config;
  log.info(
    `coordinator: task "${id}" at ${coordinator.url}/v1/tasks/${id} (${rounds.total} ` +
      (rounds.mode === "sync"
        ? `rounds, ${rounds.targetClients} clients a round`
        : `async versions, ${rounds.bufferSize} updates each, maxStaleness ${rounds.maxStaleness}`) +
      `, strategy ${task.config.aggregation.strategy})`,
  );
}
const pageBuilt = await Deno.stat(join(CLIENT_PAGE_DIR, "index.html")).then(
  () => true,
  () => false,
);
const pageHint = pageBuilt ? "" : " (build the page first: deno task build-web)";
const site = coordinator.publicUrl;
if (coordinator.resumed) log.info(`coordinator: resumed the saved state in ${runDir}`);
if (!tls && !isLoopback(args.host ?? "127.0.0.1")) {
  log.warn(
    `\n!!! PLAIN HTTP on ${args.host}: tokens and updates cross the network in clear text, and\n` +
      "!!! browsers on other devices refuse to train (WebGPU, Web Crypto and Web Locks need a\n" +
      "!!! secure page). Serve HTTPS: --tls-cert FILE --tls-key FILE (deno task dev-cert).\n",
  );
}
if (args.insecure) {
  log.warn(
    "\n!!! INSECURE: authentication is off (--insecure). Anyone who can reach this port can\n" +
      "!!! submit updates, create, pause and stop tasks. Use it only on a trusted network.\n",
  );
  log.info(`coordinator: dashboard at ${site}/${pageHint}`);
} else {
  if (coordinator.adminToken && !adminToken) {
    log.info(
      `coordinator: admin token (shown once; only its hash is kept): ${coordinator.adminToken}`,
    );
  }
  log.info(
    `coordinator: dashboard at ${dashboardLink(site, coordinator.adminToken)}${
      coordinator.adminToken ? "" : " (enter the admin token)"
    }${pageHint}`,
  );
}
const enrolment = args.insecure
  ? undefined
  : standingEnrolment ?? coordinator.auth.createEnrolmentToken();
if (enrolment && !standingEnrolment) {
  log.info(
    `coordinator: enrolment token for clients (deno task client --enrolment-token ...): ${enrolment}`,
  );
}
const link = joinLink(site, enrolment);
log.info(`coordinator: browser clients join at ${link}${pageHint}`);
// The QR code for a phone, on a terminal only (it is noise in a log file).
if (Deno.stdout.isTerminal() && logFormat === "text") {
  console.log(`scan to join (${site}):\n${await qrTerminal(link)}`);
}
log.info(
  `coordinator: default task "${
    tasks[0]!.config.id
  }" also at ${coordinator.url}/v1; run dir ${runDir}`,
);
Deno.addSignalListener("SIGINT", async () => {
  await coordinator.shutdown();
  Deno.exit(130);
});

// Run until every task, including tasks added over HTTP meanwhile, has finished or stopped.
for (;;) {
  const ids = coordinator.registry.list().map((t) => t.id);
  await Promise.all(ids.map((id) => coordinator.registry.get(id).finished));
  if (coordinator.registry.list().length === ids.length) break;
}
for (const { id } of coordinator.registry.list()) {
  log.info(
    `${id}: ${coordinator.registry.get(id).status().phase}, final model ${
      coordinator.registry.get(id).status().finalModel
    }`,
  );
}
if (linger > 0) await new Promise((resolve) => setTimeout(resolve, linger * 1000));
await coordinator.shutdown();
