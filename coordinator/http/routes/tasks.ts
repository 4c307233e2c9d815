/**
 * The admin routes over the tasks one coordinator serves: list them, create
 * one from a task file, and pause, resume or stop one. Part of createApp.
 * @module
 */
import type { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { resolveTaskFile, TaskFileError } from "../../cli/load_task.ts";
import type { TaskRegistry } from "../../federation/registry.ts";
import type { Access } from "../_access.ts";
import { ApiError } from "../errors.ts";
import type { Operation } from "../../observability/api_operation.ts";
import { StatusSchema, TaskFileSchema, TaskListSchema } from "../../../shared/schemas/mod.ts";

/** What the task routes need from the app. */
export interface TaskRouteOptions {
  registry: TaskRegistry;
  who: Access["who"];
  /** Folder that relative paths of tasks created over HTTP resolve against. */
  baseDir: string;
}

/** Largest task body accepted by POST /v1/tasks (a topology can be large). */
const MAX_TASK_BYTES = 16 * 1024 * 1024;

/** Adds the task routes to `app`. */
export function taskRoutes(app: Hono, options: TaskRouteOptions): void {
  const { registry, who } = options;
  app.get("/v1/tasks", (c) => {
    who(c, "any");
    return c.json({ tasks: registry.list() });
  });
  app.post(
    "/v1/tasks",
    (c, next) => {
      who(c, "admin");
      return next();
    },
    bodyLimit({
      maxSize: MAX_TASK_BYTES,
      onError: () => {
        throw new ApiError(
          413,
          "payload_too_large",
          `Cannot create task: body exceeds ${MAX_TASK_BYTES} bytes`,
        );
      },
    }),
    async (c) => {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw new ApiError(400, "invalid_task", "Cannot create task: the body is not JSON");
      }
      try {
        const task = await resolveTaskFile(body, { baseDir: options.baseDir, source: "request" });
        const federation = await registry.add(task, { source: JSON.stringify(body) });
        return c.json(federation.status(), 201);
      } catch (error) {
        if (error instanceof TaskFileError) throw new ApiError(400, "invalid_task", error.message);
        throw error;
      }
    },
  );
  for (const action of ["pause", "resume", "stop"] as const) {
    app.post(`/v1/tasks/:taskId/${action}`, async (c) => {
      who(c, "admin");
      const federation = registry.get(c.req.param("taskId"));
      if (action === "pause") federation.pause();
      else if (action === "resume") federation.resume();
      else await federation.stop();
      return c.json(federation.status());
    });
  }
}

/** The OpenAPI operations of the task routes. */
export const taskOperations: Operation[] = [
  {
    method: "get",
    path: "/tasks",
    summary: "The tasks served",
    access: "any",
    status: 200,
    response: { json: TaskListSchema, name: "TaskList" },
    errors: [],
  },
  {
    method: "post",
    path: "/tasks",
    summary: "Create a task from a task file",
    access: "admin",
    request: { json: TaskFileSchema, name: "TaskFile" },
    status: 201,
    response: { json: StatusSchema, name: "Status" },
    errors: [400, 409, 413],
  },
  ...(["pause", "resume", "stop"] as const).map((action): Operation => ({
    method: "post",
    path: `/tasks/{taskId}/${action}`,
    summary: {
      pause: "Pause a task: refuse updates, stop the deadline",
      resume: "Resume a paused task",
      stop: "Stop a task and export its final model",
    }[action],
    access: "admin",
    status: 200,
    response: { json: StatusSchema, name: "Status" },
    errors: [404, 409],
  })),
];
