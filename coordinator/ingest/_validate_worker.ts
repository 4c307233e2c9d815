// A worker that validates updates off the coordinator's event loop: it gets
// an update's bytes (transferred), runs validateUpdate, and sends back the
// result with the bytes (transferred again), or the refusal's status, code
// and message.
/// <reference lib="deno.worker" />
import type { WeightSpec } from "../../shared/model/model.ts";
import { ApiError } from "../http/errors.ts";
import { validateUpdate, type ValidateUpdateOptions } from "./validate_update.ts";

/** A request to the worker. */
export interface ValidateRequest {
  id: number;
  bytes: Uint8Array;
  weights: WeightSpec[];
  options: ValidateUpdateOptions;
}

/** The worker's answer. */
export type ValidateReply =
  | {
    id: number;
    ok: true;
    bytes: Uint8Array;
    update: ReturnType<typeof validateUpdate>;
  }
  | { id: number; ok: false; status: number; code: string; message: string; bytes: Uint8Array };

self.onmessage = (event: MessageEvent<ValidateRequest>) => {
  const { id, bytes, weights, options } = event.data;
  try {
    const update = validateUpdate(bytes, weights, options);
    // The tensors are views of `bytes` or arrays of their own: send each buffer once.
    const buffers = new Set<ArrayBuffer>([bytes.buffer as ArrayBuffer]);
    for (const t of update.tensors) buffers.add(t.buffer as ArrayBuffer);
    self.postMessage({ id, ok: true, bytes, update } satisfies ValidateReply, [...buffers]);
  } catch (error) {
    const reply: ValidateReply = error instanceof ApiError
      ? { id, ok: false, status: error.status, code: error.code, message: error.message, bytes }
      : {
        id,
        ok: false,
        status: 500,
        code: "internal",
        message: error instanceof Error ? error.message : String(error),
        bytes,
      };
    self.postMessage(reply, [bytes.buffer as ArrayBuffer]);
  }
};
