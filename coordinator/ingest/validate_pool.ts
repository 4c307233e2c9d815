/**
 * Validation off the event loop: a Web Worker runs `validateUpdate` on each
 * update's bytes (moved to it and back, not copied), so the coordinator keeps
 * serving while 1M values are checked for finiteness, shape and norm.
 * @module
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { WeightSpec } from "../../shared/model/model.ts";
import { ApiError, type ErrorCode } from "../http/errors.ts";
import type { ValidateReply, ValidateRequest } from "./_validate_worker.ts";
import type { ValidateUpdateOptions, ValidUpdate } from "./validate_update.ts";

/**
 * One validation worker, its requests answered in order.
 *
 * @example
 * ```ts ignore
 * const pool = new ValidatePool();
 * const { update, bytes: back } = await pool.validate(bytes, federation.trainable, {});
 * pool.close();
 * ```
 */
export class ValidatePool {
  #worker = new Worker(new URL("./_validate_worker.ts", import.meta.url), { type: "module" });
  #next = 0;
  #waiting = new Map<number, (reply: ValidateReply) => void>();

  constructor() {
    this.#worker.onmessage = (event: MessageEvent<ValidateReply>) => {
      const resolve = this.#waiting.get(event.data.id);
      this.#waiting.delete(event.data.id);
      resolve?.(event.data);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      for (const resolve of this.#waiting.values()) {
        resolve({
          id: -1,
          ok: false,
          status: 500,
          code: "internal",
          message: `the validation worker failed: ${event.message}`,
          bytes: new Uint8Array(0),
        });
      }
      this.#waiting.clear();
    };
  }

  /**
   * Validates `bytes` (which move to the worker: use the returned `bytes`
   * afterwards); rejects with the same {@linkcode ApiError} validateUpdate
   * would throw.
   */
  validate(
    bytes: Uint8Array,
    weights: readonly WeightSpec[],
    options: ValidateUpdateOptions,
  ): Promise<{ update: ValidUpdate; bytes: Uint8Array }> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, (reply) => {
        if (reply.ok) resolve({ update: reply.update, bytes: reply.bytes });
        else {
          reject(
            new ApiError(
              reply.status as ContentfulStatusCode,
              reply.code as ErrorCode,
              reply.message,
            ),
          );
        }
      });
      const request: ValidateRequest = { id, bytes, weights: [...weights], options };
      this.#worker.postMessage(request, [bytes.buffer as ArrayBuffer]);
    });
  }

  /** Stops the worker. */
  close(): void {
    this.#worker.terminate();
  }
}
