/**
 * The messages between the client page and its training worker.
 * @module
 */

/** Backends a browser client tries, in this order. */
export const WEB_BACKENDS = ["webgpu", "webgl", "wasm", "cpu"] as const;

/** One of {@linkcode WEB_BACKENDS}. */
export type WebBackendName = typeof WEB_BACKENDS[number];

/** Where the worker's rows come from. */
export type DataSource =
  | { kind: "demo"; shard: string }
  | { kind: "files"; files: File[] }
  | { kind: "text"; text: string };

/** The page's message that starts the worker. */
export interface TrainStart {
  /** The coordinator's base URL (the page's origin). */
  coordinator: string;
  /** The task to join. @default the coordinator's default task */
  taskId?: string;
  /** The enrolled client id and its token. */
  clientId: string;
  token: string;
  /** Use only this backend. @default try webgpu, webgl, wasm, cpu */
  backend?: WebBackendName;
  /** Where the tfjs wasm binaries are served. */
  wasmPath: string;
  /** The rows to train on. */
  data: DataSource;
}

/** What the worker tells the page. */
export type TrainMessage =
  | {
    kind: "backend";
    name: WebBackendName;
    device: string | null;
    skipped: { name: string; reason: string }[];
  }
  | { kind: "data"; numLabeled: number; numUnlabeled: number }
  | { kind: "joined"; taskId: string; totalRounds: number; localSteps: number }
  | {
    kind: "step";
    round: number;
    step: number;
    totalSteps: number;
    loss: number;
    ce: number;
    kl: number;
    msPerStep: number;
  }
  | {
    kind: "sent";
    round: number;
    /** Sent as a masked input (secure aggregation); `received`: survivors around this client. */
    secure?: boolean;
    received: number;
    targetClients: number;
    loss: number;
    ce: number;
    kl: number;
    seconds: number;
    /** Calls of the fused SIMD kernels in this round's training (0 off wasm). */
    fusedKernels: { adam: number; dropout: number };
  }
  | { kind: "rejected"; round: number; status: number; message: string }
  | { kind: "retry"; message: string; delayMs: number }
  | { kind: "finished" }
  | { kind: "error"; message: string; unauthorized: boolean };
