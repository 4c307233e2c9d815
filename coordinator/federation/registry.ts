/**
 * The tasks one coordinator serves, each with its own model, rounds and metrics.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import type { Phase, RoundMetrics } from "../../shared/schemas/mod.ts";
import { ApiError } from "../http/errors.ts";
import { Federation } from "./federation.ts";
import { buildTaskModel, type LoadedTask } from "../cli/load_task.ts";
import type { StateStore } from "../storage/state_store.ts";
import { RunStorage } from "../storage/run_storage.ts";
import { ValidatePool } from "../ingest/validate_pool.ts";

/** Options of {@linkcode TaskRegistry}. */
export interface TaskRegistryOptions {
  /** Folder under which each task checkpoints into `<runDir>/<task id>/`. @default none */
  runDir?: string;
  /** Called with each round's metrics of any task. */
  onRound?: (taskId: string, metrics: RoundMetrics) => void;
  /** Durable state of every task (saved, and resumed where saved). @default none */
  store?: StateStore;
  /** Keep a copy of every accepted update under the task's run folder. @default false */
  keepUpdates?: boolean;
}

/** One line of GET /v1/tasks. */
export interface TaskSummary {
  id: string;
  round: number;
  version: number;
  phase: Phase;
  totalRounds: number;
  default: boolean;
}

/**
 * Tasks by id. The first task added is the default one, which the
 * foundation's paths (`/v1/task`, `/v1/model`, ...) address.
 *
 * @example
 * ```ts
 * import { TaskRegistry } from "./registry.ts";
 * import { resolveTaskFile } from "../cli/load_task.ts";
 * import assert from "node:assert/strict";
 * const registry = new TaskRegistry();
 * await registry.add(await resolveTaskFile({ id: "a", model: { builtin: "mnist-mlp" } }, { baseDir: "." }));
 * assert.equal(registry.get().task.id, "a");
 * await registry.close();
 * ```
 */
export class TaskRegistry {
  #options: TaskRegistryOptions;
  #tasks = new Map<string, { federation: Federation; model: tf.LayersModel | null }>();
  #defaultId: string | null = null;
  #adding = new Set<string>();
  /** Validates spooled updates off the event loop (made with the first spool). */
  #validator: ValidatePool | null = null;

  /** Creates an empty registry. */
  constructor(options: TaskRegistryOptions = {}) {
    this.#options = options;
  }

  /**
   * Builds a loaded task's model and opens its first round (or resumes its
   * saved state). 409 if the id is taken. `source`: the task file of a task
   * created over HTTP, saved so that a restart re-creates it.
   */
  async add(task: LoadedTask, options: { source?: string } = {}): Promise<Federation> {
    const id = task.config.id;
    if (this.#tasks.has(id) || this.#adding.has(id)) {
      throw new ApiError(409, "task_exists", `Cannot add task: "${id}" exists`);
    }
    this.#adding.add(id);
    let model: tf.LayersModel | null = null;
    let storage: RunStorage | undefined;
    let federation: Federation;
    try {
      model = await buildTaskModel(task);
      // With a run folder and its state: the task's rows, and a spool for updates' bytes.
      storage = this.#options.store && this.#options.runDir
        ? await RunStorage.open({
          state: this.#options.store,
          dir: join(this.#options.runDir, "spool", id),
          taskId: id,
          config: JSON.stringify(task.config),
        })
        : undefined;
      federation = await Federation.create({
        task: task.config,
        model,
        holdout: task.holdout,
        serverData: task.serverData,
        runDir: this.#options.runDir ? join(this.#options.runDir, id) : undefined,
        storage,
        // Stored updates are validated off the event loop, by one worker for all tasks.
        validator: storage ? (this.#validator ??= new ValidatePool()) : undefined,
        source: options.source,
        onRound: (metrics) => this.#options.onRound?.(id, metrics),
        relay: task.relay,
        keepUpdates: this.#options.keepUpdates,
        start: task.start,
      });
    } catch (error) {
      model?.dispose();
      storage?.close();
      throw error;
    } finally {
      this.#adding.delete(id);
    }
    this.#tasks.set(id, { federation, model });
    this.#defaultId ??= id;
    return federation;
  }

  /** Serves a federation created elsewhere (its model stays the caller's). */
  register(federation: Federation): void {
    const id = federation.task.id;
    if (this.#tasks.has(id)) {
      throw new ApiError(409, "task_exists", `Cannot add task: "${id}" exists`);
    }
    this.#tasks.set(id, { federation, model: null });
    this.#defaultId ??= id;
  }

  /** Whether task `id` is served. */
  has(id: string): boolean {
    return this.#tasks.has(id);
  }

  /** The task `id`, or the default task; 404 when there is none. */
  get(id?: string): Federation {
    const key = id ?? this.#defaultId;
    const entry = key === null ? undefined : this.#tasks.get(key);
    if (!entry) {
      throw new ApiError(404, "not_found", id ? `No task "${id}"` : "No task is served");
    }
    return entry.federation;
  }

  /** Every task, in the order added. */
  list(): TaskSummary[] {
    return [...this.#tasks.values()].map(({ federation }) => {
      const status = federation.status();
      return {
        id: status.taskId,
        round: status.round,
        version: status.version,
        phase: status.phase,
        totalRounds: status.totalRounds,
        default: status.taskId === this.#defaultId,
      };
    });
  }

  /** Waits for rounds being closed, then frees every task this registry built. */
  async close(): Promise<void> {
    for (const { federation, model } of this.#tasks.values()) {
      await federation.settled();
      federation.close();
      model?.dispose();
    }
    this.#tasks.clear();
    this.#validator?.close();
    this.#validator = null;
  }
}
