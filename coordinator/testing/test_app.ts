/**
 * For tests: one task served by a real app with token checks, torn down when
 * the test module unloads.
 * @module
 */
import type { Hono } from "hono";
import { startBackend } from "../../client/training/backend.ts";
import { buildModel } from "../../shared/model/model.ts";
import type { TaskConfig } from "../../shared/schemas/mod.ts";
import { createApp, type CreateAppOptions } from "../http/app.ts";
import { Auth } from "../http/auth.ts";
import { Federation } from "../federation/federation.ts";
import { TaskRegistry } from "../federation/registry.ts";

/** What {@linkcode serveTask} returns. */
export interface ServedTask {
  federation: Federation;
  registry: TaskRegistry;
  auth: Auth;
  adminToken: string;
  app: Hono;
}

/** Builds `task`'s model on wasm, serves it as the default task with tokens on. */
export async function serveTask(
  task: TaskConfig,
  options: Omit<CreateAppOptions, "auth"> = {},
): Promise<ServedTask> {
  await startBackend("wasm");
  const model = await buildModel(task.model.topology);
  const federation = await Federation.create({ task, model });
  const registry = new TaskRegistry();
  registry.register(federation);
  const { auth, adminToken } = Auth.create();
  const app = createApp(registry, { ...options, auth });
  globalThis.addEventListener("unload", () => {
    federation.close();
    model.dispose();
  });
  return { federation, registry, auth, adminToken: adminToken!, app };
}
