/**
 * The coordinator CLI's flags: its help text and the parsed arguments (each
 * flag read, checked and used in `coordinator/main.ts`).
 * @module
 */
import { parseFlags } from "../../shared/cli.ts";
import { STRATEGIES } from "../../shared/schemas/mod.ts";

/** The coordinator CLI's help. */
export const HELP = `Usage: deno task coordinator [options]

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

/**
 * Parses the coordinator CLI's arguments; `--help` prints {@linkcode HELP}
 * and exits, an unknown flag stops the CLI naming it.
 *
 * @example
 * ```ts ignore
 * import { parseCoordinatorArgs } from "./args.ts";
 * const args = parseCoordinatorArgs(["--port", "0", "--task", "mnist-mlp"]);
 * ```
 */
export function parseCoordinatorArgs(args: string[]) {
  // `--secure-aggregation` takes an optional K=V,... value.
  const argv = args.flatMap((arg, i, all) =>
    arg === "--secure-aggregation" && !(all[i + 1] ?? "").includes("=")
      ? ["--secure-aggregation="]
      : [arg]
  );
  return parseFlags(
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
}
