/**
 * How a federation starts: fresh (the initial model evaluated as round 0,
 * then the first round opened), or resumed from its stored state (the
 * global, the round, its accepted updates, the answers given).
 * @module
 */
import { writeWeights } from "../../shared/model/model.ts";
import { decodeSafetensors, encodeSafetensors } from "../../shared/wire/safetensors.ts";
import { summarize } from "./_round/parts.ts";
import { decodeStrategyState } from "../storage/strategy_state.ts";
import { StateError, type StoredTask, type StoredUpdate } from "../storage/storage.ts";
import { validateUpdate, type ValidUpdate } from "../ingest/validate_update.ts";
import { restoredRecord } from "./_clients.ts";
import { end, maybeClose, open } from "./_lifecycle.ts";
import { measure } from "./_round/outputs.ts";
import { hold } from "./_round/sum.ts";
import type { FederationState } from "./_state.ts";
import { elementCount } from "../../shared/shape.ts";

/**
 * A fresh start at `options.start` (round 1, version 0 unless given): the
 * initial model evaluated (as round start - 1), stored, and the round opened.
 */
export async function start(s: FederationState): Promise<void> {
  const at = s.options.start ?? { round: 1, version: 0 };
  s.round = at.round;
  s.version = at.version;
  const initial = await measure(s, {
    round: at.round - 1,
    summary: summarize([]),
    version: at.version,
    openedAt: performance.now(),
    weights: s.global,
  });
  s.options.storage?.saveInitial({
    round: at.round,
    version: at.version,
    phase: "training",
    global: encodeSafetensors(s.global),
    metrics: [initial],
  }, s.options.source);
  s.history.push(initial);
  s.options.onRound?.(initial);
  open(s);
}

/** Takes up saved state: the global, the round, its accepted updates and the answers given. */
export async function resume(s: FederationState, saved: StoredTask): Promise<void> {
  const decoded = decodeSafetensors(saved.global);
  for (const spec of s.weights) {
    const tensor = decoded.tensors.get(spec.name);
    if (!tensor || tensor.data.length !== elementCount(spec.shape)) {
      throw new StateError(
        `Cannot resume task "${s.task.id}": the saved global has no weight "${spec.name}" of shape [${spec.shape}]`,
      );
    }
  }
  s.global = new Map(s.weights.map((w) => [w.name, decoded.tensors.get(w.name)!]));
  if (saved.strategy) s.strategy.loadState(decodeStrategyState(saved.strategy));
  writeWeights(s.model, s.global);
  s.round = saved.round;
  s.version = saved.version;
  s.history = saved.history;
  s.answers = saved.answers;
  const lastPrivate = saved.history.findLast((h) => h.privacy);
  if (lastPrivate?.privacy) s.clip = lastPrivate.privacy.nextClip;
  for (const c of saved.clients) s.clients.set(c.id, restoredRecord(c));
  open(s, saved.secure ?? []);
  for (const p of saved.pending) {
    let update: ValidUpdate;
    try {
      update = validateUpdate(storedBytes(s, p), s.trainable, s.validation);
    } catch (error) {
      throw new StateError(
        `Cannot resume task "${s.task.id}": a saved update of "${p.clientId}" no longer validates (${
          error instanceof Error ? error.message : error
        })`,
      );
    }
    hold(s, p.key, { clientId: p.clientId, update, staleness: p.staleness });
    s.participants.add(p.clientId);
  }
  // Segments no stored update refers to (a batch that never committed) go.
  s.options.storage?.prune(saved.pending);
  if (saved.phase === "finished" || saved.phase === "stopped") {
    await end(s, saved.phase);
    return;
  }
  if (saved.phase === "paused") {
    clearTimeout(s.timer);
    s.phase = "paused";
    return;
  }
  maybeClose(s);
}

/** A stored update's bytes: with it, or read back from the storage and checked. */
function storedBytes(s: FederationState, p: StoredUpdate): Uint8Array {
  if (!p.spool) return p.bytes;
  if (!s.options.storage) {
    throw new Error("the update's bytes are kept apart, and no storage is open");
  }
  return s.options.storage.bytesOf(p);
}
