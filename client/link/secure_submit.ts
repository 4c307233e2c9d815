/**
 * A client's secure round over HTTP: the stages of `shared/secagg/client.ts`
 * driven by the coordinator's GET /v1/secagg answers (advertise keys, share
 * them with the neighbours it names, send the masked input, reveal the
 * shares it asks for), in Deno, Node.js and the browser alike. Each stage's
 * message is made once and resent as it is after a lost answer.
 * @module
 */
import { type PublicKeys, SecAggClient } from "../../shared/secagg/client.ts";
import { encodeInput, type PlainInput } from "../../shared/secagg/input.ts";
import { secureParams } from "../../shared/secagg/params.ts";
import { fromBase64, type SecureState, toBase64 } from "../../shared/secagg/wire.ts";
import type { TaskResponse } from "../../shared/schemas/mod.ts";
import {
  clipFactor,
  distributedFewest,
  gaussian,
  l2Norm,
  noiseShareStd,
} from "../../shared/privacy/mechanism.ts";
import { CoordinatorError, type SecureCalls } from "./coordinator_client.ts";

/** Options of {@linkcode secureSubmit}. */
export interface SecureSubmitOptions {
  /** The coordinator's secure calls (`CoordinatorClient.secure`). */
  api: SecureCalls;
  clientId: string;
  /** The task (with `secureAggregation`). */
  task: TaskResponse;
  /** The round the input is for. */
  round: number;
  /** The client's delta (tensors in the task's order), weight and counts. */
  input: PlainInput;
  /** Retries a call as the client does (backoff, patience). @default no retry */
  retrying?: <T>(call: () => Promise<T>) => Promise<T>;
  /** How often to ask where the round stands, in ms. @default 200 */
  pollMs?: number;
  /** What the client runs on, shown in the coordinator's status. @default none */
  about?: { backend?: string; device?: string; runtime?: string; vocabulary?: string };
  /** Uniform numbers in [0, 1) for the stochastic rounding. @default Math.random */
  random?: () => number;
  /** Called when the client enters a stage. */
  onStage?: (stage: SecureState["stage"]) => void;
}

/** How a client's secure round ended. */
export type SecureResult =
  | { kind: "done"; survivors: number }
  | { kind: "failed"; reason: string }
  /** The round went on without this client (a stage closed before its part arrived). */
  | { kind: "left out"; reason: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What a client of a secure task contributes: its delta (in the task's
 * tensor order) weighted as FedAvg weighs it; under distributed differential
 * privacy, clipped to the L2 bound, with its share of the Gaussian noise
 * added, and weighted like every other client.
 */
export function secureInput(
  task: TaskResponse,
  delta: Map<string, { data: Float32Array }>,
  counts: { numLabeled: number; numUnlabeled: number },
): PlainInput {
  const tensors = task.weights.map((w) => delta.get(w.name)!.data);
  const privacy = task.privacy;
  if (privacy?.mode !== "distributed" || !task.secureAggregation) {
    return {
      delta: tensors,
      weight: counts.numLabeled + task.aggregation.unlabeledWeight * counts.numUnlabeled,
      ...counts,
    };
  }
  const params = secureParams(task.secureAggregation, task.rounds);
  const factor = clipFactor(l2Norm(tensors), privacy.clip);
  const std = noiseShareStd({
    noiseMultiplier: privacy.noiseMultiplier,
    clip: privacy.clip,
    fewest: distributedFewest({ minClients: task.rounds.minClients, threshold: params.threshold }),
  });
  const noised = tensors.map((t) => {
    const z = gaussian(t.length);
    return Float32Array.from(t, (v, i) => v * factor + std * z[i]!);
  });
  return { delta: noised, weight: params.maxWeight, ...counts };
}

/**
 * Runs this client's part of the open secure round and resolves when the
 * round is unmasked, has failed, or has gone on without it.
 *
 * @example
 * ```ts ignore
 * const result = await secureSubmit({ api: api.secure, clientId, task, round, input });
 * ```
 */
export async function secureSubmit(options: SecureSubmitOptions): Promise<SecureResult> {
  const { api, clientId, task, round, pollMs = 200 } = options;
  const retrying = options.retrying ?? (<T>(call: () => Promise<T>) => call());
  if (!task.secureAggregation) throw new TypeError(`Task "${task.id}" is not secure`);
  const params = secureParams(task.secureAggregation, task.rounds);
  const protocol = await SecAggClient.create(clientId, {
    round,
    threshold: params.threshold,
    bits: params.bits,
  });
  const keys = protocol.publicKeys();
  const leftOut = (error: unknown): SecureResult | null =>
    error instanceof CoordinatorError && error.status === 409
      ? { kind: "left out", reason: error.message }
      : null;
  try {
    await retrying(() =>
      api.post("keys", {
        round,
        clientId,
        encryptionKey: toBase64(keys.encryptionKey),
        maskKey: toBase64(keys.maskKey),
        ...options.about,
      })
    );
  } catch (error) {
    const result = leftOut(error);
    if (result) return result;
    throw error;
  }
  // Each stage's message, made once.
  let sealed: Record<string, unknown> | null = null;
  let masked: Uint32Array | null = null;
  let revealed: Record<string, unknown> | null = null;
  let survivors = 0;
  let stage: SecureState["stage"] | null = null;
  for (;;) {
    let state: SecureState;
    try {
      state = await retrying(() => api.state(clientId, round));
    } catch (error) {
      // 409: the round is neither open nor the one closed last.
      const result = leftOut(error);
      if (result) return result;
      throw error;
    }
    if (state.round !== round) {
      return { kind: "left out", reason: `round ${round} closed while this client waited` };
    }
    if (state.stage !== stage) options.onStage?.(stage = state.stage);
    if (state.stage === "done") return { kind: "done", survivors };
    if (state.stage === "failed") return { kind: "failed", reason: state.reason ?? "failed" };
    if (state.stage !== "keys" && !state.participant) {
      return { kind: "left out", reason: `stage "${state.stage}" went on without this client` };
    }
    if (state.done || state.stage === "keys") {
      await sleep(pollMs);
      continue;
    }
    try {
      if (state.stage === "shares") {
        sealed ??= {
          round,
          clientId,
          shares: (await protocol.shareKeys(state.neighbours!.map(publicKeys))).map((s) => ({
            to: s.to,
            ciphertext: toBase64(s.ciphertext),
          })),
        };
        await retrying(() => api.post("shares", sealed!));
      } else if (state.stage === "input") {
        masked ??= await protocol.maskInput(
          encodeInput(options.input, params, options.random ?? Math.random),
          state.shares!.map((s) => ({
            from: s.from,
            to: clientId,
            ciphertext: fromBase64(s.ciphertext),
          })),
        );
        await retrying(() => api.input(clientId, round, masked!));
      } else if (state.stage === "unmask") {
        survivors = state.survivors!.length;
        revealed ??= {
          round,
          clientId,
          shares: protocol.revealShares(new Set(state.survivors), new Set(state.dropped)).map((
            s,
          ) => ({ about: s.about, kind: s.kind, share: toBase64(s.share) })),
        };
        await retrying(() => api.post("reveal", revealed!));
      }
    } catch (error) {
      const result = leftOut(error);
      if (!result) throw error;
      // The round may have ended meanwhile (unmasked without this client's
      // shares, once enough were in): say how it ended.
      const ended = await retrying(() => api.state(clientId, round)).catch(() => null);
      if (ended?.stage === "done" && ended.participant) return { kind: "done", survivors };
      if (ended?.stage === "failed") return { kind: "failed", reason: ended.reason ?? "failed" };
      return result;
    }
  }
}

function publicKeys(k: { id: string; encryptionKey: string; maskKey: string }): PublicKeys {
  return { id: k.id, encryptionKey: fromBase64(k.encryptionKey), maskKey: fromBase64(k.maskKey) };
}
