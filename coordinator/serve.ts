/**
 * Starting a coordinator: tasks, rounds and the HTTP server together.
 * @module
 */
import { startBackend } from "../client/training/backend.ts";
import type { RoundMetrics } from "../shared/schemas/mod.ts";
import { type AppLimits, createApp } from "./http/app.ts";
import { Auth } from "./http/auth.ts";
import type { Federation } from "./federation/federation.ts";
import { type LoadedTask, resolveTaskFile } from "./cli/load_task.ts";
import { TaskRegistry } from "./federation/registry.ts";
import { StateStore } from "./storage/state_store.ts";
import { type ConnectionLimits, listen, type ListenOptions } from "./http/listener.ts";
import { defaultPublicUrl, parsePublicUrl } from "./endpoint/public_url.ts";

/** Options of {@linkcode startCoordinator}. */
export interface StartCoordinatorOptions {
  /** The tasks to serve; the first is the default task. More can be added over HTTP. */
  tasks: LoadedTask[];
  /**
   * The run folder: the durable state (`state.db`) and checkpoints, one
   * sub-folder per task. Started again on the same folder, the coordinator
   * resumes where it stopped. @default none (state in memory only)
   */
  runDir?: string;
  /**
   * Authentication: `"insecure"` lets everyone in; otherwise tokens are
   * required, with this admin token (default: the saved one, or a new one
   * returned as `adminToken`) and an optional standing enrolment token.
   * @default tokens required
   */
  auth?: "insecure" | { adminToken?: string; enrolmentToken?: string };
  /** Limits on requests and uploads. @default see AppLimits */
  limits?: AppLimits;
  /** Origins allowed to call the API from a browser. @default none */
  corsOrigins?: string[];
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** Interface to listen on. @default "127.0.0.1" */
  hostname?: string;
  /** Serve HTTPS with this certificate chain and key (PEM texts). @default plain HTTP */
  tls?: { cert: string; key: string };
  /**
   * The address devices use to reach this coordinator (join links, the
   * dashboard). @default derived from the protocol, `hostname` and the port
   */
  publicUrl?: string;
  /** Deadlines and bounds on connections. @default see ConnectionLimits */
  connections?: ConnectionLimits;
  /** Called when a bound on connections refuses one (see ListenOptions.onRefused). */
  onConnectionRefused?: ListenOptions["onRefused"];
  /** Called with each round's metrics of each task. */
  onRound?: (taskId: string, metrics: RoundMetrics) => void;
  /** Keep a copy of every accepted update under `<runDir>/<task>/updates/`. @default false */
  keepUpdates?: boolean;
}

/** A running coordinator. */
export interface Coordinator {
  /** Base URL, e.g. `http://127.0.0.1:8787` (`https://` with a certificate). */
  url: string;
  /** The address devices use, e.g. `https://fl.example.org:8787`. */
  publicUrl: string;
  /** Connections open now. */
  connections(): number;
  /** The tasks served. */
  registry: TaskRegistry;
  /** The default task's rounds. */
  federation: Federation;
  /** Token checks (open in insecure mode). */
  auth: Auth;
  /** The admin token when it was given or generated at this start (only its hash is kept), else null. */
  adminToken: string | null;
  /** Whether the run resumed saved state. */
  resumed: boolean;
  /** Stops the server and frees the tasks. */
  shutdown(): Promise<void>;
}

/**
 * Builds each task's model on the wasm backend, opens their first rounds and
 * serves the v1 API on `hostname:port`.
 *
 * @example
 * ```ts
 * import { startCoordinator } from "./serve.ts";
 * import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
 * import assert from "node:assert/strict";
 * const coordinator = await startCoordinator({ tasks: [{ config: mnistMlpTask() }], auth: "insecure" });
 * assert.equal((await fetch(`${coordinator.url}/v1/health`)).status, 200);
 * await coordinator.shutdown();
 * ```
 */
export async function startCoordinator(options: StartCoordinatorOptions): Promise<Coordinator> {
  // A bad public URL is refused before anything is opened (listen checks the certificate).
  let publicUrl = options.publicUrl === undefined ? undefined : parsePublicUrl(options.publicUrl);
  await startBackend("wasm");
  const store = options.runDir ? StateStore.open(options.runDir) : null;
  const resumed = store?.hasTasks() ?? false;
  let auth: Auth;
  let adminToken: string | null = null;
  try {
    if (options.auth === "insecure") auth = Auth.open();
    else ({ auth, adminToken } = Auth.create({ db: store?.db, ...options.auth }));
  } catch (error) {
    store?.close();
    throw error;
  }
  const registry = new TaskRegistry({
    runDir: options.runDir,
    keepUpdates: options.keepUpdates,
    onRound: options.onRound,
    store: store ?? undefined,
  });
  try {
    for (const task of options.tasks) await registry.add(task);
    // Tasks created over HTTP before a restart come back from their saved task files.
    for (const { id, source } of store?.addedTasks() ?? []) {
      if (registry.has(id)) continue;
      await registry.add(
        await resolveTaskFile(JSON.parse(source), { baseDir: Deno.cwd(), source: "request" }),
        { source },
      );
    }
  } catch (error) {
    await registry.close();
    store?.close();
    throw error;
  }
  const hostname = options.hostname ?? "127.0.0.1";
  const protocol = options.tls ? "https" : "http";
  const app = createApp(registry, {
    auth,
    limits: options.limits,
    corsOrigins: options.corsOrigins,
    publicUrl: () => publicUrl!,
  });
  let server;
  try {
    server = await listen({
      fetch: app.fetch,
      hostname,
      port: options.port ?? 0,
      tls: options.tls,
      limits: options.connections,
      onRefused: options.onConnectionRefused,
    });
  } catch (error) {
    await registry.close();
    store?.close();
    throw error;
  }
  const host = server.hostname.includes(":") ? `[${server.hostname}]` : server.hostname;
  publicUrl ??= defaultPublicUrl({ protocol, hostname, port: server.port });
  return {
    url: `${protocol}://${host}:${server.port}`,
    publicUrl,
    connections: () => server.connections(),
    registry,
    federation: registry.get(),
    auth,
    adminToken,
    resumed,
    async shutdown() {
      await server.close();
      await registry.close();
      store?.close();
    },
  };
}
