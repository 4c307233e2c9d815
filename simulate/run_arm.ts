/**
 * One arm of a comparison for one seed: a real coordinator on a free port,
 * the clients in workers talking to it over HTTP, rounds driven in turn.
 * @module
 */
import { startBackend } from "../client/training/backend.ts";
import { LocalTrainer } from "../client/training/trainer.ts";
import { Evaluator } from "../shared/model/evaluate.ts";
import { startCoordinator } from "../coordinator/serve.ts";
import { type Dataset, featureSize, reshapeRows, selectRows } from "../shared/data/dataset.ts";
import { buildModel, writeWeights } from "../shared/model/model.ts";
import { decodeSafetensors, type Float32Tensor } from "../shared/wire/safetensors.ts";
import { partition } from "../shared/data/partition.ts";
import { maskDataset, maskedTokensOf } from "../shared/tokenizer/masking.ts";
import { seededRandom, shuffle } from "../shared/random.ts";
import { RoundConfigSchema, type RoundMetrics, type TaskConfig } from "../shared/schemas/mod.ts";
import { armTask, armTraining, baseArm, SERVER_ARMS } from "./arms.ts";
import type { Arm, SimulationConfig } from "./config.ts";
import type { ArmRun, RoundPoint } from "./report.ts";
import type { WorkerReply, WorkerRequest } from "./_worker.ts";

/** The data of a simulation: train rows to spread, and the holdout. */
export interface SimulationData {
  train: Dataset;
  holdout: Dataset;
  /**
   * Groups the clients are partitioned over instead of the labels (the
   * Brown corpus's genres): each train row's group, and the groups' names.
   * @default none: the rows' labels
   */
  groups?: { ofRow: Int32Array; names: string[] };
  /** Holdout accuracies of reference methods, by name, shown beside the arms. @default none */
  baselines?: Record<string, number>;
}

/** The rows of one seed: the clients' shards and the coordinator's labeled rows. */
export interface Split {
  shards: Dataset[];
  server: Dataset;
  /** Label counts per client (rows with a label and without, by class). */
  histogram: number[][];
}

/** Options of {@linkcode runArm}. */
export interface RunArmOptions {
  config: SimulationConfig;
  seed: number;
  data: SimulationData;
  /** The task of the arm before the arm's settings. */
  base: TaskConfig;
  /** The task's initial weights, where a task file gives them (else the model's seeded init). */
  weights?: Map<string, Float32Tensor>;
  /** Called after each round. */
  onRound?: (point: RoundPoint) => void;
  /** Serve HTTPS with this certificate and key; the clients trust `caCert` (PEM texts). */
  tls?: { cert: string; key: string; caCert: string };
  /** Called with the global weights after the last round (e.g. a pretraining's result). */
  onWeights?: (weights: Map<string, Float32Tensor>) => void;
}

/**
 * Splits the train rows for one seed: `serverLabeled` rows for the
 * coordinator, the rest partitioned over the clients (Dirichlet or IID) with
 * `labeledFraction` of each client's rows labeled. Every arm of a seed gets
 * the same split.
 */
export function splitForSeed(data: SimulationData, config: SimulationConfig, seed: number): Split {
  const count = data.train.x.length / featureSize(data.train);
  const rows = shuffle([...Array(count).keys()], seededRandom(seed * 104729 + 1));
  const serverRows = rows.slice(0, config.serverLabeled);
  const clientRows = rows.slice(config.serverLabeled);
  const over = data.groups?.ofRow ?? data.train.labels;
  const parts = partition(over, clientRows, {
    clients: config.clients,
    beta: config.beta,
    labeledFraction: config.labeledFraction,
    seed,
  });
  // Labeled clients: the first `labeledClients` keep their labels, the others hold none.
  if (config.labeledClients !== undefined) {
    parts.forEach((p, i) => {
      if (i >= config.labeledClients!) p.unlabeledRows = new Set(p.rows);
    });
  }
  const numClasses = data.groups?.names.length ?? data.train.numClasses;
  return {
    shards: parts.map((p) => selectRows(data.train, p.rows, { hideLabels: p.unlabeledRows })),
    server: selectRows(data.train, serverRows),
    histogram: parts.map((p) => {
      const counts = new Array(numClasses).fill(0);
      for (const row of p.rows) counts[over[row]!]++;
      return counts;
    }),
  };
}

/**
 * The clients an arm can train with: all but the `absent` last ones; for a
 * supervised arm with `labeledClients`, only those (the others hold no label
 * to train on).
 */
export function population(config: SimulationConfig, arm?: Arm): number {
  const present = config.clients - config.absent;
  const supervised = arm !== undefined &&
    (baseArm(arm) === "supervised" || baseArm(arm) === "supervised-server");
  return supervised && config.labeledClients !== undefined
    ? Math.min(present, config.labeledClients)
    : present;
}

/** Clients that train in each round: `fraction` of the arm's population, at least one. */
export function perRound(config: SimulationConfig, arm?: Arm): number {
  return Math.max(1, Math.round(config.fraction * population(config, arm)));
}

/**
 * The clients that train in a round: a seeded sample of `fraction` of the
 * arm's population (at least one); the `absent` last ones never do.
 */
export function participants(
  config: SimulationConfig,
  seed: number,
  round: number,
  arm?: Arm,
): number[] {
  const count = perRound(config, arm);
  const all = [...Array(population(config, arm)).keys()];
  return shuffle(all, seededRandom(seed * 7919 + round)).slice(0, count).sort((a, b) => a - b);
}

function point(m: RoundMetrics): RoundPoint {
  return {
    round: m.round,
    accuracy: m.accuracy,
    loss: m.loss,
    seconds: m.seconds,
    bytesReceived: m.bytesReceived,
    clients: m.clients,
    ...(m.secureAggregation ? { secureSurvivors: m.secureAggregation.survivors } : {}),
    ...(m.privacy ? { epsilon: m.privacy.epsilon } : {}),
    ...(m.perplexity !== undefined ? { perplexity: m.perplexity } : {}),
  };
}

class SimWorker {
  #worker = new Worker(new URL("./_worker.ts", import.meta.url), { type: "module" });
  #pending: { resolve: (r: WorkerReply) => void; reject: (e: Error) => void } | null = null;

  constructor() {
    this.#worker.onmessage = (m: MessageEvent<WorkerReply>) => {
      const pending = this.#pending;
      this.#pending = null;
      if (m.data.kind === "error") pending?.reject(new Error(m.data.message));
      else pending?.resolve(m.data);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#pending?.reject(new Error(`Simulation worker crashed: ${event.message}`));
    };
  }

  send(request: WorkerRequest): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#worker.postMessage(request);
    });
  }

  terminate(): void {
    this.#worker.terminate();
  }
}

/**
 * Runs one arm for one seed and returns its metrics. The centralized arm runs
 * in a worker of its own, so it can run beside a federated arm.
 */
export async function runArm(arm: Arm, options: RunArmOptions): Promise<ArmRun> {
  if (arm === "centralized") return await runCentralizedInWorker(options);
  const { config, seed, data } = options;
  const started = performance.now();
  const split = splitForSeed(data, config, seed);
  const count = perRound(config, arm);
  const task = armTask(arm, { base: options.base, config });
  // The simulation's own coordinator, on loopback for its own workers only.
  const coordinator = await startCoordinator({
    auth: "insecure",
    tls: options.tls,
    tasks: [{
      config: {
        ...task,
        model: { ...task.model, seed },
        // Under DP the coordinator draws each round's clients (Poisson, at
        // rate fraction); a round closes once every drawn client answered.
        rounds: RoundConfigSchema.parse(
          task.privacy
            ? {
              total: config.rounds,
              targetClients: config.clients,
              minClients: task.secureAggregation?.threshold ?? 1,
              fraction: config.fraction,
              timeoutSeconds: 86400,
            }
            : {
              total: config.rounds,
              targetClients: count,
              minClients: count,
              timeoutSeconds: 86400,
            },
        ),
      },
      weights: options.weights,
      holdout: data.holdout,
      serverData: SERVER_ARMS.includes(arm) ? split.server : undefined,
    }],
    onRound: (_id, m) => m.round > 0 && options.onRound?.(point(m)),
  });
  const workers = Array.from(
    { length: Math.min(config.workers, config.clients) },
    () => new SimWorker(),
  );
  const home = (client: number) => client % workers.length;
  try {
    await Promise.all(workers.map((worker, w) =>
      worker.send({
        kind: "init",
        coordinator: coordinator.url,
        caCert: options.tls?.caCert,
        clients: split.shards.flatMap((dataset, i) =>
          home(i) === w
            ? [{
              id: `client-${i + 1}`,
              dataset,
              seed: seed * 1000 + i,
              attackScale: i >= config.clients - config.byzantine
                ? config.byzantineScale
                : undefined,
            }]
            : []
        ),
      })
    ));
    const everyone = [...Array(config.clients - config.absent).keys()];
    if (task.privacy) {
      // Each client shows up once (as its first model request would), so the
      // coordinator knows the population it draws from.
      for (const i of everyone) {
        try {
          coordinator.federation.join(`client-${i + 1}`);
        } catch {
          // not drawn for round 1: known all the same
        }
      }
    }
    for (let round = 1; round <= config.rounds; round++) {
      if (coordinator.federation.status().phase === "finished") break;
      // Under DP every client asks; those not drawn are told so (409) and skip.
      const chosen = task.privacy ? everyone : participants(config, seed, round, arm);
      await Promise.all(workers.map((worker, w) => {
        const ids = chosen.filter((i) => home(i) === w).map((i) => `client-${i + 1}`);
        return ids.length ? worker.send({ kind: "train", round, ids }) : null;
      }));
      await coordinator.federation.settled();
    }
    const history = coordinator.federation.status().history;
    if (options.onWeights) {
      options.onWeights(
        decodeSafetensors(coordinator.federation.globalModel().safetensors).tensors,
      );
    }
    return {
      arm,
      seed,
      rounds: history.map(point),
      wallSeconds: (performance.now() - started) / 1000,
      bytesSent: history.reduce((n, h) => n + h.bytesReceived, 0),
    };
  } finally {
    workers.forEach((w) => w.terminate());
    await coordinator.shutdown();
  }
}

function runCentralizedInWorker(options: RunArmOptions): Promise<ArmRun> {
  const worker = new Worker(new URL("./_centralized_worker.ts", import.meta.url), {
    type: "module",
  });
  return new Promise<ArmRun>((resolve, reject) => {
    worker.onmessage = (m: MessageEvent) => {
      if (m.data.kind === "round") options.onRound?.(m.data.point);
      else if (m.data.kind === "done") resolve(m.data.run);
      else reject(new Error(`Centralized arm failed: ${m.data.message}`));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`Centralized arm crashed: ${event.message}`));
    };
    const { config, seed, data, base, weights } = options;
    worker.postMessage({ config, seed, data, base, weights });
  }).finally(() => worker.terminate());
}

/**
 * The ceiling: the same model trained with rdrop-ssl on the union of the
 * seed's shards (the same labels) in one place, `centralizedSteps` steps per
 * round.
 */
export async function runCentralized(options: RunArmOptions): Promise<ArmRun> {
  const { config, seed, data } = options;
  const started = performance.now();
  await startBackend("wasm");
  const split = splitForSeed(data, config, seed);
  const union: Dataset = {
    ...data.train,
    x: concat(split.shards.map((s) => s.x)),
    labels: Int32Array.from(split.shards.flatMap((s) => [...s.labels])),
  };
  const model = await buildModel(options.base.model.topology, { seed });
  if (options.weights) writeWeights(model, options.weights);
  const trainer = new LocalTrainer(model, reshapeRows(union, options.base.input.shape), {
    maskedTokens: maskedTokensOf(options.base.input),
    seed,
  });
  const masking = maskedTokensOf(options.base.input);
  const holdout = masking ? maskDataset(data.holdout, masking) : data.holdout;
  const evaluator = new Evaluator(reshapeRows(holdout, options.base.input.shape));
  const training = { ...armTraining("centralized", config), localSteps: config.centralizedSteps };
  const initial = evaluator.evaluate(model);
  const rounds: RoundPoint[] = [{
    round: 0,
    ...initial,
    seconds: 0,
    bytesReceived: 0,
    clients: 0,
  }];
  try {
    for (let round = 1; round <= config.rounds; round++) {
      const t0 = performance.now();
      await trainer.train(training, { round });
      const p = {
        round,
        ...evaluator.evaluate(model),
        seconds: (performance.now() - t0) / 1000,
        bytesReceived: 0,
        clients: 1,
      };
      rounds.push(p);
      options.onRound?.(p);
    }
  } finally {
    trainer.dispose();
    evaluator.dispose();
    model.dispose();
  }
  return {
    arm: "centralized",
    seed,
    rounds,
    wallSeconds: (performance.now() - started) / 1000,
    bytesSent: 0,
  };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
