/**
 * The coordinator CLI.
 *
 * `deno task coordinator [--task mnist-mlp|FILE.yaml ...] [--port 8787] [--run-dir DIR] ...`
 * @module
 */
import { join } from "node:path";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import {
  AggregationConfigSchema,
  formatZodError,
  type PrivacyConfig,
  RoundConfigSchema,
  type SecureAggregationConfig,
} from "../shared/schemas/mod.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
import { fail, keyValueFlag, numberFlag } from "../shared/cli.ts";
import { parseCoordinatorArgs } from "./cli/args.ts";
import { type LoadedTask, loadTaskFile } from "./cli/load_task.ts";
import { startCoordinator } from "./serve.ts";
import { createLogger, LOG_LEVELS, type LogLevel } from "./observability/log.ts";
import { connectUpstream } from "./edge/edge.ts";
import { CLIENT_PAGE_DIR } from "./http/routes/client_page.ts";
import { listenFlags, logRefusals } from "./cli/listen_flags.ts";
import { privacySettingsFlag, secureAggregationFlag } from "./cli/task_flags.ts";
import { dashboardLink, joinLink, qrTerminal } from "./endpoint/join_link.ts";
import { isLoopback } from "./endpoint/public_url.ts";
import { fetchTrusting, readTrustedCa } from "../client/link/trust.ts";

const args = parseCoordinatorArgs(Deno.args);

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
          : `accuracy ${(100 * m.accuracy).toFixed(2)}%, loss ${m.loss?.toFixed(4)}` +
            (m.perplexity === undefined ? "" : `, perplexity ${m.perplexity.toFixed(2)}`)) +
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
        ...(m.perplexity !== undefined ? { perplexity: m.perplexity } : {}),
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
