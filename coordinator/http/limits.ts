/**
 * Limits that keep one client from starving the others: a token bucket of
 * requests per client, and a bound on uploads in flight (one per client at a
 * time, and a total).
 * @module
 */
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
