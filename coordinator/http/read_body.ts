/**
 * Reading request bodies within bounds: whole ({@linkcode readBody}), chunk
 * by chunk into a sink ({@linkcode streamBody}), or tapped from the first
 * moment, before the handler is ready ({@linkcode tapBody}). Each refuses a
 * body that is too large (413), too slow (408) or cut off (400).
 * @module
 */
import type { IncomingMessage } from "node:http";
import { ApiError } from "./errors.ts";

/**
 * Reads a request body whole within `timeoutMs` and `maxBytes` (`what` names the
 * action in messages, "accept update" by default): 408 when it
 * arrives too slowly, 413 when it grows past the limit (whatever
 * Content-Length said). Given the `node:http` request behind it (`incoming`),
 * it reads that stream's chunks straight into one buffer, without the web
 * stream around them.
 *
 * @example
 * ```ts
 * import { readBody } from "./read_body.ts";
 * import assert from "node:assert/strict";
 * const bytes = await readBody(new Request("http://x", { method: "POST", body: "abc" }), { maxBytes: 10, timeoutMs: 1000 });
 * assert.equal(bytes.length, 3);
 * ```
 */
export async function readBody(
  request: Request,
  options: { maxBytes: number; timeoutMs: number; what?: string; incoming?: IncomingMessage },
): Promise<Uint8Array> {
  const { maxBytes, timeoutMs, what = "accept update" } = options;
  const length = request.headers.get("Content-Length");
  if (length !== null && Number(length) > maxBytes) {
    throw new ApiError(
      413,
      "payload_too_large",
      `Cannot ${what}: body exceeds ${maxBytes} bytes`,
    );
  }
  if (options.incoming) return await readIncoming(options.incoming, { ...options, what, length });
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  // With a Content-Length, chunks go straight into one buffer of that size.
  const declared = length !== null && /^\d+$/.test(length) ? Number(length) : null;
  const whole = declared !== null ? new Uint8Array(declared) : null;
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ApiError(
            408,
            "request_timeout",
            `Cannot ${what}: the body did not arrive within ${timeoutMs / 1000} s`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), timeout]);
      if (done) break;
      if (total + value.byteLength > maxBytes) {
        throw new ApiError(
          413,
          "payload_too_large",
          `Cannot ${what}: body exceeds ${maxBytes} bytes`,
        );
      }
      if (whole && total + value.byteLength <= whole.length) whole.set(value, total);
      else chunks.push(value);
      total += value.byteLength;
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    if (error instanceof ApiError) throw error;
    // The connection closed under the body (the client left, or a deadline closed it).
    throw new ApiError(
      400,
      "incomplete_body",
      `Cannot ${what}: the body ended after ${total} bytes (${
        error instanceof Error ? error.message : String(error)
      })`,
    );
  } finally {
    clearTimeout(timer);
  }
  if (whole && chunks.length === 0) {
    return total === whole.length ? whole : whole.subarray(0, total);
  }
  if (!whole && chunks.length === 1) return chunks[0]!;
  // No or a wrong Content-Length: the chunks are joined (after what went into `whole`).
  const out = new Uint8Array(total);
  let offset = 0;
  if (whole) {
    const head = Math.min(whole.length, total - chunks.reduce((n, c) => n + c.byteLength, 0));
    out.set(whole.subarray(0, head));
    offset = head;
  }
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * {@linkcode readBody} from a `node:http` request: {@linkcode streamBody}
 * into one buffer of the declared length (grown when a body has none, or lies).
 */
async function readIncoming(
  incoming: IncomingMessage,
  options: { maxBytes: number; timeoutMs: number; what: string; length: string | null },
): Promise<Uint8Array> {
  const { maxBytes, length } = options;
  const declared = length !== null && /^\d+$/.test(length) ? Number(length) : null;
  let buffer = new Uint8Array(declared ?? 64 * 1024);
  let total = 0;
  await streamBody(incoming, {
    ...options,
    sink: {
      push: (chunk) => {
        if (total + chunk.byteLength > buffer.length) {
          const grown = new Uint8Array(
            Math.min(maxBytes, Math.max(2 * buffer.length, total + chunk.byteLength)),
          );
          grown.set(buffer.subarray(0, total));
          buffer = grown;
        }
        buffer.set(chunk, total);
        total += chunk.byteLength;
        return true;
      },
      drained: () => Promise.resolve(),
    },
  });
  return total === buffer.length ? buffer : buffer.subarray(0, total);
}

/** Where {@linkcode streamBody} puts a body's chunks. */
export interface BodySink {
  /** Takes a chunk (throws to refuse the body); false asks for a pause until `drained`. */
  push(chunk: Uint8Array): boolean;
  /** Resolves when the sink takes chunks again (rejects to refuse the body). */
  drained(): Promise<void>;
}

/**
 * {@linkcode readBody}, but each chunk goes to `sink` as it arrives instead
 * of into one buffer: the request costs what the sink keeps, not its size.
 * Resolves with the bytes read; rejects with the same errors as readBody,
 * or what the sink threw (the rest of the body is then read and dropped).
 *
 * @example
 * ```ts ignore
 * const bytes = await streamBody(incoming, { maxBytes, timeoutMs, sink });
 * ```
 */
export function streamBody(
  incoming: IncomingMessage,
  options: { maxBytes: number; timeoutMs: number; what?: string; sink: BodySink },
): Promise<number> {
  const { maxBytes, timeoutMs, what = "accept update", sink } = options;
  const length = incoming.headers["content-length"];
  if (length !== undefined && Number(length) > maxBytes) {
    return Promise.reject(
      new ApiError(413, "payload_too_large", `Cannot ${what}: body exceeds ${maxBytes} bytes`),
    );
  }
  let total = 0;
  return new Promise<number>((resolve, reject) => {
    let finished = false;
    const done = (error: unknown) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
      incoming.off("close", onClose);
      if (error) {
        incoming.resume(); // what is left is not wanted
        reject(error);
      } else resolve(total);
    };
    const onData = (chunk: Uint8Array) => {
      if (total + chunk.byteLength > maxBytes) {
        done(
          new ApiError(413, "payload_too_large", `Cannot ${what}: body exceeds ${maxBytes} bytes`),
        );
        return;
      }
      total += chunk.byteLength;
      let more: boolean;
      try {
        more = sink.push(chunk);
      } catch (error) {
        done(error);
        return;
      }
      if (!more) {
        incoming.pause();
        sink.drained().then(() => finished || incoming.resume(), done);
      }
    };
    const onEnd = () => done(null);
    const cut = (reason: string) =>
      done(
        new ApiError(
          400,
          "incomplete_body",
          `Cannot ${what}: the body ended after ${total} bytes (${reason})`,
        ),
      );
    const onError = (error: Error) => cut(error.message);
    const onClose = () => {
      if (!incoming.readableEnded) cut("the connection closed");
    };
    const timer = setTimeout(
      () =>
        done(
          new ApiError(
            408,
            "request_timeout",
            `Cannot ${what}: the body did not arrive within ${timeoutMs / 1000} s`,
          ),
        ),
      timeoutMs,
    );
    if (incoming.readableEnded) {
      done(null);
      return;
    }
    if (incoming.destroyed || incoming.errored) {
      cut("the connection closed");
      return;
    }
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onError);
    incoming.on("close", onClose);
  });
}

/**
 * A request body read from the moment it is tapped, before its handler is
 * ready for it: {@linkcode BodyTap.take} then hands what came so far, and
 * the rest as it comes, to a sink. Never paused: measured under Deno 2.9.6,
 * a node:http body left unread (paused, or no listener yet) when its
 * connection is cut is delivered with a gap (bytes go missing before later
 * ones), which would corrupt a resumed upload; read at once, it is a prefix.
 */
export interface BodyTap {
  /** Like {@linkcode streamBody}: resolves with the bytes read, or rejects as it does. */
  take(
    options: {
      maxBytes: number;
      timeoutMs: number;
      idleMs?: number;
      what?: string;
      sink: BodySink;
    },
  ): Promise<number>;
  /** Stops reading (the connection is closed); a pending take rejects. */
  destroy(): void;
}

/**
 * Starts reading `incoming` now, holding its chunks until
 * {@linkcode BodyTap.take}. Call it before any `await` of the handler.
 *
 * @example
 * ```ts ignore
 * const tap = tapBody(incoming);
 * await somethingFirst();
 * await tap.take({ maxBytes, timeoutMs, sink });
 * ```
 */
export function tapBody(incoming: IncomingMessage): BodyTap {
  const held: Uint8Array[] = [];
  let ended: "end" | string | null = null;
  let onChunk: ((chunk: Uint8Array) => void) | null = null;
  let onEnd: ((how: string) => void) | null = null;
  incoming.on("data", (chunk: Uint8Array) => {
    if (onChunk) onChunk(chunk);
    else held.push(new Uint8Array(chunk));
  });
  const finish = (how: string) => {
    if (ended !== null) return;
    ended = how;
    onEnd?.(how);
  };
  incoming.on("end", () => finish("end"));
  incoming.on("error", (error: Error) => finish(error.message));
  incoming.on("close", () => {
    if (!incoming.readableEnded) finish("the connection closed");
  });
  if (incoming.readableEnded) finish("end");
  else if (incoming.destroyed || incoming.errored) finish("the connection closed");
  else incoming.resume(); // flowing, even if something paused it before
  return {
    destroy: () => {
      incoming.destroy();
      // Not waiting for its close event: it does not always come.
      finish("stopped");
    },
    take: ({ maxBytes, timeoutMs, idleMs, what = "accept update", sink }) =>
      new Promise<number>((resolve, reject) => {
        let total = 0;
        let failed = false;
        // No byte for idleMs: the sender is gone (or resent headers only).
        let idle: ReturnType<typeof setTimeout> | undefined;
        const quiet = () => {
          if (idleMs === undefined) return;
          clearTimeout(idle);
          idle = setTimeout(() => {
            incoming.destroy();
            fail(
              new ApiError(
                400,
                "incomplete_body",
                `Cannot ${what}: no byte for ${idleMs / 1000} s after ${total} bytes`,
              ),
            );
          }, idleMs);
        };
        const fail = (error: unknown) => {
          if (failed) return;
          failed = true;
          clearTimeout(timer);
          clearTimeout(idle);
          onChunk = () => {};
          onEnd = null;
          reject(error);
        };
        const timer = setTimeout(
          () =>
            fail(
              new ApiError(
                408,
                "request_timeout",
                `Cannot ${what}: the body did not arrive within ${timeoutMs / 1000} s`,
              ),
            ),
          timeoutMs,
        );
        const give = (chunk: Uint8Array) => {
          if (failed) return;
          quiet();
          if (total + chunk.byteLength > maxBytes) {
            incoming.destroy();
            fail(
              new ApiError(
                413,
                "payload_too_large",
                `Cannot ${what}: body exceeds ${maxBytes} bytes`,
              ),
            );
            return;
          }
          total += chunk.byteLength;
          try {
            // Never paused (see above): a sink that is behind holds the rest.
            sink.push(chunk);
          } catch (error) {
            incoming.destroy();
            fail(error);
          }
        };
        const end = (how: string) => {
          if (failed) return;
          clearTimeout(timer);
          clearTimeout(idle);
          if (how === "end") resolve(total);
          else {
            fail(
              new ApiError(
                400,
                "incomplete_body",
                `Cannot ${what}: the body ended after ${total} bytes (${how})`,
              ),
            );
          }
        };
        quiet();
        for (const chunk of held.splice(0)) give(chunk);
        onChunk = give;
        onEnd = end;
        if (ended !== null) end(ended);
        else incoming.resume();
      }),
  };
}
