/**
 * The routes of resumable uploads, per task: the tus 1.0 protocol at
 * /v1/uploads (POST creates, HEAD tells the offset, PATCH appends, DELETE
 * gives up; resumable_uploads.ts), and {@linkcode takeUpload}, what
 * POST /v1/updates does with `{"upload": id}`. Part of createApp.
 * @module
 */
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import type { Context, Hono } from "hono";
import {
  formatZodError,
  type UpdateAccepted,
  UploadedUpdateSchema,
} from "../../../shared/schemas/mod.ts";
import type { Access } from "../_access.ts";
import { ApiError } from "../errors.ts";
import type { Federation } from "../../federation/federation.ts";
import { readBody, tapBody } from "../read_body.ts";
import { ResumableUploads } from "../../ingest/resumable_uploads.ts";
import { takeStreamedUpdate } from "../../ingest/streamed_update.ts";
import type { Operation } from "../../observability/api_operation.ts";

/** What the upload routes need from the app. */
export interface UploadRouteOptions {
  /** The task prefixes (`/v1/tasks/:taskId`, `/v1`). */
  prefixes: string[];
  task: (c: Context) => Federation;
  who: Access["who"];
  actingAs: Access["actingAs"];
  /** The longest a PATCH's body may take (what arrived is kept). */
  timeoutMs: number;
}

const opened = new WeakMap<Federation, Promise<ResumableUploads>>();

/** A task's resumable uploads, in its run folder; refused without one. */
export function uploadsOf(federation: Federation): Promise<ResumableUploads> {
  const runDir = federation.runDir;
  if (runDir === undefined || !federation.takesUploads) {
    throw new ApiError(
      404,
      "not_found",
      `Task "${federation.task.id}" takes no resumable uploads (the coordinator has no run folder, or the task uses secure aggregation)`,
    );
  }
  let uploads = opened.get(federation);
  if (!uploads) {
    uploads = ResumableUploads.open(join(runDir, "uploads", federation.task.id), {
      maxBytes: federation.maxUpdateBytes(),
    });
    opened.set(federation, uploads);
  }
  return uploads;
}

/** Adds the tus routes to `app`. */
export function uploadRoutes(app: Hono, options: UploadRouteOptions): void {
  const { task, who, actingAs } = options;
  for (const prefix of options.prefixes) {
    for (
      const [methods, path] of [
        [["POST"], `${prefix}/uploads`],
        [["GET", "PATCH", "DELETE"], `${prefix}/uploads/:uploadId`],
      ] as const
    ) {
      app.on([...methods], path, async (c) => {
        // Read from now on, before any await (read_body.ts tapBody says why).
        const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
        const body = c.req.method === "PATCH" && incoming ? tapBody(incoming) : undefined;
        try {
          const clientId = actingAs(who(c, "client"), undefined);
          const uploads = await uploadsOf(task(c));
          return await uploads.handle(c.req.raw, { clientId, body, timeoutMs: options.timeoutMs });
        } catch (error) {
          body?.destroy();
          throw error;
        }
      });
    }
  }
}

/**
 * POST /v1/updates with `{"upload": id}`: takes `clientId`'s finished upload
 * as its update, checked and stored as a posted one; a resend gets the same
 * answer.
 */
export async function takeUpload(
  c: Context,
  federation: Federation,
  options: { clientId?: string; timeoutMs: number },
): Promise<UpdateAccepted> {
  const text = new TextDecoder().decode(
    await readBody(c.req.raw, { maxBytes: 4096, timeoutMs: 10_000 }),
  );
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError(400, "bad_request", "Cannot accept update: the JSON body does not parse");
  }
  const parsed = UploadedUpdateSchema.safeParse(json);
  if (!parsed.success) {
    throw new ApiError(400, "bad_request", `Cannot accept update: ${formatZodError(parsed.error)}`);
  }
  const id = parsed.data.upload;
  const uploads = await uploadsOf(federation);
  const before = uploads.answerOf(id, options.clientId);
  if (before) return before;
  const finished = await uploads.finished(id, options.clientId);
  const answer = federation.streamsUpdates
    ? await takeStreamedUpdate(federation, { file: finished.path }, {
      clientId: options.clientId,
      timeoutMs: options.timeoutMs,
    })
    : await federation.accept(await Deno.readFile(finished.path), { clientId: options.clientId });
  await uploads.taken(id, options.clientId, answer);
  return answer;
}

/** The OpenAPI operations of resumable uploads (tus 1.0). */
export const uploadOperations: Operation[] = [
  {
    method: "post",
    path: "/uploads",
    summary:
      "Resumable upload (tus 1.0 creation): headers Tus-Resumable: 1.0.0 and Upload-Length; the upload's URL is in Location",
    access: "client",
    perTask: true,
    status: 201,
    response: null,
    errors: [400, 404, 412, 413],
  },
  {
    method: "get",
    path: "/uploads/{uploadId}",
    summary:
      "Resumable upload (tus 1.0): HEAD (as tus clients ask; GET answers the same) tells its offset (Upload-Offset) and length (Upload-Length)",
    access: "client",
    perTask: true,
    status: 200,
    response: null,
    errors: [404, 412],
  },
  {
    method: "patch",
    path: "/uploads/{uploadId}",
    summary:
      "Resumable upload (tus 1.0): append bytes at Upload-Offset (Content-Type application/offset+octet-stream); a PATCH cut off counts for nothing",
    access: "client",
    perTask: true,
    request: { binary: "application/offset+octet-stream" },
    status: 204,
    response: null,
    errors: [400, 404, 409, 412, 413, 415],
  },
  {
    method: "delete",
    path: "/uploads/{uploadId}",
    summary: "Resumable upload (tus 1.0 termination): give it up",
    access: "client",
    perTask: true,
    status: 204,
    response: null,
    errors: [404, 412],
  },
];
