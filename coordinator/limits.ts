/**
 * Limits that keep one client from starving the others: a token bucket of
 * requests per client, and a bound on uploads in flight (one per client at a
 * time, and a total).
 * @module
 */
import type { IncomingMessage } from "node:http";
import { ApiError } from "./errors.ts";

/** Options of {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /** Requests per second each key may sustain. */
  perSecond: number;
  /** Requests a key may make at once after being idle. */
  burst: number;
}

/**
 * A token bucket per key (client id or address). `take` throws 429 with the
 * seconds to wait when the key's bucket is empty.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "./limits.ts";
 * import assert from "node:assert/strict";
 * const limiter = new RateLimiter({ perSecond: 1, burst: 2 });
 * limiter.take("a", 0);
 * limiter.take("a", 0);
 * assert.throws(() => limiter.take("a", 0), /Too many requests/);
 * limiter.take("b", 0); // other keys are not affected
 * limiter.take("a", 1000); // one second later, one more
 * ```
 */
export class RateLimiter {
  readonly #options: RateLimiterOptions;
  #buckets = new Map<string, { tokens: number; at: number }>();

  /** Creates the limiter. */
  constructor(options: RateLimiterOptions) {
    if (!(options.perSecond > 0) || !(options.burst >= 1)) {
      throw new RangeError("Cannot limit rates: perSecond must be > 0 and burst >= 1");
    }
    this.#options = options;
  }

  /** Takes one request from `key`'s bucket at time `now` (ms); 429 when it is empty. */
  take(key: string, now: number = performance.now()): void {
    const { perSecond, burst } = this.#options;
    const bucket = this.#buckets.get(key) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    if (bucket.tokens < 1) {
      this.#buckets.set(key, bucket);
      const wait = Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond));
      throw new ApiError(
        429,
        "rate_limited",
        `Too many requests from "${key}": at most ${perSecond} a second (burst ${burst}); retry in ${wait} s`,
        { "Retry-After": String(wait) },
      );
    }
    bucket.tokens -= 1;
    this.#buckets.set(key, bucket);
    // Forget full buckets now and then, so memory follows the active keys.
    if (this.#buckets.size > 10000) {
      for (const [k, b] of this.#buckets) {
        if (b.tokens + ((now - b.at) / 1000) * perSecond >= burst) this.#buckets.delete(k);
      }
    }
  }
}

/** Options of {@linkcode UploadGate}. */
export interface UploadGateOptions {
  /** Uploads read at once. */
  max: number;
  /** Uploads that may wait for a slot (their bodies unread) before more are refused. @default 0 */
  queue?: number;
  /** Milliseconds an upload may wait for a slot. @default 30000 */
  waitMs?: number;
}

/**
 * Uploads in flight: at most `max` read at once, one per client. Past that,
 * up to `queue` uploads wait their turn in arrival order (their bodies stay
 * unread, so they cost no memory); past the queue, or after `waitMs`, 503
 * with Retry-After. A second upload from a client with one in flight or
 * waiting: 429.
 *
 * @example
 * ```ts
 * import { UploadGate } from "./limits.ts";
 * import assert from "node:assert/strict";
 * const gate = new UploadGate({ max: 1 });
 * const release = await gate.acquire("a");
 * await assert.rejects(gate.acquire("b"), /uploads in flight/);
 * release();
 * (await gate.acquire("b"))();
 * ```
 */
export class UploadGate {
  readonly max: number;
  readonly #queue: number;
  readonly #waitMs: number;
  #active = new Set<string>();
  #count = 0;
  #waiting: (() => void)[] = [];

  /** Allows `max` uploads at once and `queue` waiting. */
  constructor(options: UploadGateOptions) {
    const { max, queue = 0, waitMs = 30_000 } = options;
    if (!(max >= 1)) throw new RangeError("Cannot bound uploads: max must be at least 1");
    if (!(queue >= 0)) throw new RangeError("Cannot bound uploads: queue must be at least 0");
    this.max = max;
    this.#queue = queue;
    this.#waitMs = waitMs;
  }

  /** Uploads being read now. */
  get inFlight(): number {
    return this.#count;
  }

  /**
   * Admits an upload of `key` (at once or in turn); call the returned function
   * when it is done. An upload whose `signal` aborts while it waits (its
   * client has gone) leaves the queue at once.
   */
  async acquire(key: string, signal?: AbortSignal): Promise<() => void> {
    if (this.#active.has(key)) {
      throw new ApiError(
        429,
        "rate_limited",
        `An upload from "${key}" is in flight: send one at a time`,
        { "Retry-After": "1" },
      );
    }
    const busy = () =>
      new ApiError(
        503,
        "busy",
        `The coordinator has ${this.max} uploads in flight; retry shortly`,
        { "Retry-After": "1" },
      );
    if (this.#count >= this.max) {
      if (this.#waiting.length >= this.#queue) throw busy();
      this.#active.add(key);
      const admitted = await new Promise<"turn" | "timeout" | "gone">((resolve) => {
        const leave = (why: "timeout" | "gone") => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          this.#waiting = this.#waiting.filter((w) => w !== turn);
          resolve(why);
        };
        const onAbort = () => leave("gone");
        const turn = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          resolve("turn");
        };
        const timer = setTimeout(() => leave("timeout"), this.#waitMs);
        this.#waiting.push(turn);
        if (signal?.aborted) onAbort();
        else signal?.addEventListener("abort", onAbort, { once: true });
      });
      if (admitted !== "turn") {
        this.#active.delete(key);
        if (admitted === "gone") {
          throw new ApiError(400, "incomplete_body", "Cannot accept update: the client went away");
        }
        throw busy();
      }
    } else {
      this.#active.add(key);
      this.#count++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active.delete(key);
      // The slot passes to the first waiting upload, or frees.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#count--;
    };
  }
}

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
 * import { readBody } from "./limits.ts";
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
 * {@linkcode readBody} from a `node:http` request: its chunks go into one
 * buffer of the declared length (grown when a body has none, or lies).
 */
function readIncoming(
  incoming: IncomingMessage,
  options: { maxBytes: number; timeoutMs: number; what: string; length: string | null },
): Promise<Uint8Array> {
  const { maxBytes, timeoutMs, what, length } = options;
  const declared = length !== null && /^\d+$/.test(length) ? Number(length) : null;
  let buffer = new Uint8Array(declared ?? 64 * 1024);
  let total = 0;
  return new Promise<Uint8Array>((resolve, reject) => {
    const done = (error: ApiError | null) => {
      clearTimeout(timer);
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
      incoming.off("close", onClose);
      if (error) {
        incoming.resume(); // what is left is not wanted
        reject(error);
      } else resolve(total === buffer.length ? buffer : buffer.subarray(0, total));
    };
    const onData = (chunk: Uint8Array) => {
      if (total + chunk.byteLength > maxBytes) {
        done(
          new ApiError(413, "payload_too_large", `Cannot ${what}: body exceeds ${maxBytes} bytes`),
        );
        return;
      }
      if (total + chunk.byteLength > buffer.length) {
        const grown = new Uint8Array(
          Math.min(maxBytes, Math.max(2 * buffer.length, total + chunk.byteLength)),
        );
        grown.set(buffer.subarray(0, total));
        buffer = grown;
      }
      buffer.set(chunk, total);
      total += chunk.byteLength;
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
    // Closed before its turn came (a deadline, or the client left): nothing more will arrive.
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
