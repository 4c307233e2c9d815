/**
 * Resumable uploads of large updates: the tus 1.0 protocol (core, with the
 * creation and termination extensions), so an upload interrupted by the link
 * or by a coordinator restart resumes from its offset. Uploads are files in
 * the task's run folder (`uploads/<task>/<id>` and `<id>.json`). The offset
 * is the bytes of the PATCH requests that arrived whole (synced, then
 * recorded in the .json); a PATCH cut off counts for nothing, so clients
 * send PATCHes of a few MiB (client/link/resumable_upload.ts: 4 MiB). An upload only carries bytes: the client then
 * asks for it to be taken as its update (POST /v1/updates with
 * `{"upload": id}`), which checks it as any update; the answer is kept
 * beside it for a resend.
 *
 * Implemented here rather than with @tus/server: it runs under Deno, but a
 * node:http body that is cut off under Deno 2.9.6 can arrive with a gap
 * (bytes missing before later ones), and @tus/server keeps a cut PATCH's
 * bytes: test/resumable_test.ts got a corrupt 40 MB upload from it (the
 * bytes of offset 4,193,951 stored at 4,136,976).
 * @module
 */
import { join } from "node:path";
import type { UpdateAccepted } from "../../shared/schemas/mod.ts";
import { ApiError } from "../http/errors.ts";
import type { BodyTap } from "../http/read_body.ts";
import { OrderedWriter } from "./_ordered_writer.ts";
import { toHex } from "../../shared/hex.ts";

/** The protocol version spoken. */
const TUS_VERSION = "1.0.0";
/** An upload's id: 32 hex digits. */
const UPLOAD_ID = /^[0-9a-f]{32}$/;

/** A finished upload, ready to be taken as an update. */
export interface FinishedUpload {
  /** The file holding its bytes. */
  path: string;
  size: number;
}

/** What is kept of an upload beside its bytes. */
interface UploadInfo {
  id: string;
  size: number;
  /** Bytes received whole so far (the file may hold more: a cut PATCH's, not trusted). */
  offset: number;
  clientId: string | null;
  metadata: Record<string, string>;
  created: string;
}

/** The headers of every tus answer. */
function tusHeaders(extra: Record<string, string> = {}): Headers {
  return new Headers({ "Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", ...extra });
}

/** A tus refusal: plain text, as tus clients show it. */
function refuse(status: number, message: string, extra: Record<string, string> = {}): Response {
  return new Response(message, {
    status,
    headers: tusHeaders({ "Content-Type": "text/plain; charset=utf-8", ...extra }),
  });
}

/**
 * One task's resumable uploads.
 *
 * @example
 * ```ts
 * import { ResumableUploads } from "./resumable_uploads.ts";
 * import assert from "node:assert/strict";
 * const uploads = await ResumableUploads.open(await Deno.makeTempDir(), { maxBytes: 100 });
 * const created = await uploads.handle(
 *   new Request("http://x/v1/uploads", {
 *     method: "POST",
 *     headers: { "Tus-Resumable": "1.0.0", "Upload-Length": "3" },
 *   }),
 *   { clientId: "c1" },
 * );
 * assert.equal(created.status, 201);
 * const url = `http://x${created.headers.get("Location")}`;
 * const patched = await uploads.handle(
 *   new Request(url, {
 *     method: "PATCH",
 *     headers: {
 *       "Tus-Resumable": "1.0.0",
 *       "Upload-Offset": "0",
 *       "Content-Type": "application/offset+octet-stream",
 *     },
 *     body: Uint8Array.of(1, 2, 3),
 *   }),
 *   { clientId: "c1" },
 * );
 * assert.equal(patched.headers.get("Upload-Offset"), "3");
 * ```
 */
export class ResumableUploads {
  readonly dir: string;
  readonly #maxBytes: number;
  /** The PATCH writing to each upload, and how to stop it. */
  #writing = new Map<string, { done: Promise<void>; stop: () => void }>();

  private constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.#maxBytes = maxBytes;
  }

  /** Opens (or creates) the uploads folder `dir`; an upload is at most `maxBytes`. */
  static async open(dir: string, options: { maxBytes: number }): Promise<ResumableUploads> {
    await Deno.mkdir(dir, { recursive: true });
    return new ResumableUploads(dir, options.maxBytes);
  }

  /**
   * Answers a tus request (OPTIONS, POST to create, HEAD for the offset,
   * PATCH to append, DELETE to give up) for `clientId` (none in open mode):
   * an upload is only seen by the client that created it. `body` is the
   * request's node:http body, tapped (read_body.ts `tapBody`) where it is served
   * over node:http.
   */
  async handle(
    request: Request,
    options: { clientId?: string; body?: BodyTap; timeoutMs?: number },
  ): Promise<Response> {
    const { clientId } = options;
    if (request.method === "OPTIONS") {
      return new Response(null, {
        status: 204,
        headers: tusHeaders({
          "Tus-Version": TUS_VERSION,
          "Tus-Extension": "creation,termination",
          "Tus-Max-Size": String(this.#maxBytes),
        }),
      });
    }
    if (request.headers.get("Tus-Resumable") !== TUS_VERSION) {
      await request.body?.cancel();
      return refuse(412, `Tus-Resumable must be ${TUS_VERSION}`, { "Tus-Version": TUS_VERSION });
    }
    const path = new URL(request.url).pathname.replace(/\/+$/, "");
    if (request.method === "POST") return await this.#create(request, path, clientId);
    const id = path.split("/").at(-1) ?? "";
    const info = await this.#info(id, clientId);
    if (!info) {
      await request.body?.cancel();
      return refuse(404, `No upload "${id.slice(0, 80)}"`);
    }
    if (request.method === "HEAD" || request.method === "GET") {
      return new Response(null, {
        status: 200,
        headers: tusHeaders({
          "Upload-Offset": String(await this.#offset(id)),
          "Upload-Length": String(info.size),
        }),
      });
    }
    if (request.method === "DELETE") {
      await this.#stop(id);
      await this.remove(id);
      return new Response(null, { status: 204, headers: tusHeaders() });
    }
    if (request.method === "PATCH") {
      return await this.#patch(request, info, options.body, options.timeoutMs ?? 300_000);
    }
    await request.body?.cancel();
    return refuse(405, `${request.method} is not a tus method`);
  }

  async #create(request: Request, path: string, clientId: string | undefined): Promise<Response> {
    await request.body?.cancel();
    const length = request.headers.get("Upload-Length");
    if (length === null || !/^\d{1,15}$/.test(length)) {
      return refuse(400, "Upload-Length must be a non-negative integer");
    }
    const size = Number(length);
    if (size > this.#maxBytes) {
      return refuse(
        413,
        `Upload-Length ${size} exceeds the largest update, ${this.#maxBytes} bytes`,
      );
    }
    const metadata: Record<string, string> = {};
    for (const pair of (request.headers.get("Upload-Metadata") ?? "").split(",")) {
      const [key, value = ""] = pair.trim().split(" ");
      if (!key) continue;
      try {
        metadata[key.slice(0, 100)] = atob(value).slice(0, 1000);
      } catch {
        return refuse(400, `Upload-Metadata "${key.slice(0, 100)}" is not base64`);
      }
    }
    const id = toHex(crypto.getRandomValues(new Uint8Array(16)));
    const info: UploadInfo = {
      id,
      size,
      offset: 0,
      clientId: clientId ?? null,
      metadata,
      created: new Date().toISOString(),
    };
    await Deno.writeFile(join(this.dir, id), new Uint8Array(0), { createNew: true });
    await Deno.writeTextFile(join(this.dir, `${id}.json`), JSON.stringify(info));
    return new Response(null, {
      status: 201,
      headers: tusHeaders({ Location: `${path}/${id}`, "Upload-Offset": "0" }),
    });
  }

  async #patch(
    request: Request,
    info: UploadInfo,
    tap: BodyTap | undefined,
    timeoutMs: number,
  ): Promise<Response> {
    const type = request.headers.get("Content-Type")?.split(";")[0]?.trim();
    const claimed = request.headers.get("Upload-Offset");
    if (type !== "application/offset+octet-stream") {
      await request.body?.cancel();
      return refuse(415, "Content-Type must be application/offset+octet-stream");
    }
    if (claimed === null || !/^\d{1,15}$/.test(claimed)) {
      await request.body?.cancel();
      return refuse(400, "Upload-Offset must be a non-negative integer");
    }
    // One writer per upload: a newer PATCH (a client resuming) stops an older
    // one, and takes its place with no await between the check and the claim.
    while (this.#writing.has(info.id)) await this.#stop(info.id);
    const stop = new AbortController();
    let finish = () => {};
    const done = new Promise<void>((resolve) => (finish = resolve));
    this.#writing.set(info.id, { done, stop: () => stop.abort() });
    let offset = 0;
    let file: Deno.FsFile | undefined;
    try {
      offset = await this.#offset(info.id);
      if (Number(claimed) !== offset) {
        tap?.destroy();
        await request.body?.cancel();
        return refuse(409, `Upload-Offset ${claimed} is not the upload's offset ${offset}`, {
          "Upload-Offset": String(offset),
        });
      }
      file = await Deno.open(join(this.dir, info.id), { write: true });
    } finally {
      if (!file) {
        this.#writing.delete(info.id);
        finish();
      }
    }
    let complete = false;
    let written = 0;
    try {
      // Whatever a cut PATCH or a killed coordinator left past the offset goes.
      await file.truncate(offset);
      await file.seek(offset, Deno.SeekMode.Start);
      const writer = new OrderedWriter(file);
      let taken = 0;
      try {
        if (tap) {
          // Stopped already (a newer PATCH came while this one was opening), or later.
          if (stop.signal.aborted) tap.destroy();
          else stop.signal.addEventListener("abort", () => tap.destroy(), { once: true });
          await tap.take({
            maxBytes: info.size - offset,
            timeoutMs,
            idleMs: 5000,
            what: "append to the upload",
            sink: writer,
          });
        } else if (request.body) {
          for await (const chunk of request.body) {
            if (stop.signal.aborted) throw new ApiError(400, "incomplete_body", "stopped");
            taken += chunk.byteLength;
            if (taken > info.size - offset) {
              throw new ApiError(413, "payload_too_large", "Cannot append to the upload: too long");
            }
            if (!writer.push(chunk)) await writer.drained();
          }
        }
        complete = true;
      } catch (error) {
        // Anything else (cut off, stopped, too slow, a stream error): incomplete.
        if (error instanceof ApiError && error.code === "payload_too_large") {
          return refuse(413, `The upload has ${info.size} bytes; more were sent`);
        }
      }
      await writer.end();
      written = writer.written;
      if (complete) {
        // The PATCH arrived whole (its Content-Length, or its chunked end): it counts.
        await file.syncData();
        await this.#commit(info, offset + written);
      } else {
        // Cut off, stopped or too slow: its bytes are not trusted (a node:http
        // body cut off under Deno can arrive with a gap), the client resends them.
        await file.truncate(offset);
        written = 0;
      }
    } finally {
      file.close();
      this.#writing.delete(info.id);
      finish();
    }
    return new Response(null, {
      status: 204,
      headers: tusHeaders({ "Upload-Offset": String(offset + written) }),
    });
  }

  /** Records that upload `info` has `offset` good bytes (written, then renamed into place). */
  async #commit(info: UploadInfo, offset: number): Promise<void> {
    const path = join(this.dir, `${info.id}.json`);
    await Deno.writeTextFile(`${path}.tmp`, JSON.stringify({ ...info, offset }));
    await Deno.rename(`${path}.tmp`, path);
  }

  /** Stops the PATCH writing to upload `id`, if any, and waits until it is done. */
  async #stop(id: string): Promise<void> {
    const writing = this.#writing.get(id);
    if (!writing) return;
    writing.stop();
    await writing.done;
  }

  /** The upload's good bytes so far: those of the PATCH requests that arrived whole. */
  async #offset(id: string): Promise<number> {
    const info = JSON.parse(await Deno.readTextFile(join(this.dir, `${id}.json`))) as UploadInfo;
    return info.offset;
  }

  /** Upload `id`'s record, if it exists and is `clientId`'s. */
  async #info(id: string, clientId: string | undefined): Promise<UploadInfo | null> {
    if (!UPLOAD_ID.test(id)) return null;
    let info: UploadInfo;
    try {
      info = JSON.parse(await Deno.readTextFile(join(this.dir, `${id}.json`)));
      await Deno.stat(join(this.dir, id));
    } catch {
      return null;
    }
    // Someone else's is not told apart from one that does not exist.
    return clientId !== undefined && info.clientId !== clientId ? null : info;
  }

  /**
   * Upload `id` of `clientId`, once all its bytes are in: where they are.
   * Refused when it does not exist or is not theirs (404) or is not finished
   * (409, with how far it got).
   */
  async finished(id: string, clientId: string | undefined): Promise<FinishedUpload> {
    const info = await this.#info(id, clientId);
    if (!info) throw new ApiError(404, "not_found", `No upload "${id.slice(0, 80)}"`);
    const offset = await this.#offset(id);
    if (offset !== info.size || this.#writing.has(id)) {
      throw new ApiError(
        409,
        "upload_incomplete",
        `Cannot take upload "${id}" as an update: it has ${offset} of its ${info.size} bytes; resume it first`,
      );
    }
    return { path: join(this.dir, id), size: info.size };
  }

  /** The answer `clientId`'s upload `id` was taken with before (for a resend), if any. */
  answerOf(id: string, clientId: string | undefined): UpdateAccepted | null {
    if (!UPLOAD_ID.test(id)) return null;
    try {
      const kept = JSON.parse(Deno.readTextFileSync(join(this.dir, `${id}.accepted.json`)));
      return kept.clientId === (clientId ?? null) ? kept.answer : null;
    } catch {
      return null;
    }
  }

  /** `clientId`'s upload `id` was taken as an update: its answer is kept, its bytes go. */
  async taken(id: string, clientId: string | undefined, answer: UpdateAccepted): Promise<void> {
    await Deno.writeTextFile(
      join(this.dir, `${id}.accepted.json`),
      JSON.stringify({ clientId: clientId ?? null, answer }),
    );
    await this.remove(id);
  }

  /** Removes upload `id`'s bytes and record. */
  async remove(id: string): Promise<void> {
    for (const name of [id, `${id}.json`]) {
      await Deno.remove(join(this.dir, name)).catch(() => {});
    }
  }
}
