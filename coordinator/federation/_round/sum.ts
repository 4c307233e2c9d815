/**
 * The open round's running sum: accepted updates are folded in as they are
 * admitted (strategies that are sums), so memory does not grow with the
 * number of clients; streamed updates are read back from the spool in
 * batches.
 * @module
 */
import { clipFactor } from "../../../shared/privacy/mechanism.ts";
import { clientWeight } from "../../aggregate/fed_avg.ts";
import { RunningSum } from "../../aggregate/fold/running_sum.ts";
import { stalenessWeight } from "../../aggregate/staleness.ts";
import type { FederationState, PendingUpdate } from "../_state.ts";
import { elementCount } from "../../../shared/shape.ts";

/** The piece of each streamed update read at a time when a batch is folded. */
const BATCH_READ_PIECE = 256 * 1024;

/** A new round's running sum, or null when the strategy needs every update (or the round is secure). */
export function newSum(s: FederationState): RunningSum | null {
  return s.strategy.needsAllUpdates || !s.strategy.aggregateMean || s.secureParams
    ? null
    : new RunningSum(s.trainable.map((w) => elementCount(w.shape)));
}

/**
 * Keeps an accepted update in the open round. For strategies that are sums
 * it is folded into the running sum at once and its tensors are let go.
 */
export function hold(s: FederationState, key: string, pending: PendingUpdate): void {
  if (s.sum && s.privacy) {
    // DP-FedAvg: each update clipped to the bound, all weighted alike.
    fold(s, pending.update, 1, clipFactor(pending.update.norm, s.clip));
    if (pending.update.norm <= s.clip) s.within++;
    pending = { ...pending, update: { ...pending.update, tensors: [] } };
  } else if (s.sum) {
    const { numLabeled, numUnlabeled } = pending.update.metadata;
    fold(
      s,
      pending.update,
      clientWeight({ numLabeled, numUnlabeled }, s.task.aggregation.unlabeledWeight),
      s.async ? stalenessWeight(pending.staleness, s.task.rounds.staleness) : 1,
    );
    pending = { ...pending, update: { ...pending.update, tensors: [] } };
  }
  s.pending.set(key, pending);
}

/** Folds an update into the round's sum: its tensors, or read back piece by piece from its record. */
export function fold(
  s: FederationState,
  update: PendingUpdate["update"],
  weight: number,
  scale: number,
): void {
  const spooled = update.spooled;
  if (spooled && s.options.storage) {
    // Folded with the rest of its group commit's batch, once the batch's
    // transaction is over (or before the sum is read, whichever is first).
    s.unfolded.push({ sum: s.sum!, spooled, weight, scale: scale * spooled.factor });
    if (s.unfolded.length === 1) queueMicrotask(() => foldUnfolded(s));
  } else s.sum!.add(update.tensors, weight, scale);
}

/**
 * Folds the streamed updates admitted since the last call, all at once
 * (RunningSum.addMany: the same sums, bit for bit, as one by one in their
 * order); each into the sum of the round it was admitted to.
 */
export function foldUnfolded(s: FederationState): void {
  const batch = s.unfolded.splice(0);
  const storage = s.options.storage;
  if (batch.length === 0 || !storage) return;
  while (s.readBuffers.length < batch.length) {
    s.readBuffers.push(new Uint8Array(BATCH_READ_PIECE));
  }
  for (const sum of new Set(batch.map((b) => b.sum))) {
    const mine = batch.filter((b) => b.sum === sum);
    sum.addMany(mine.map((b, j) => ({
      pieces: storage.pieces(b.spooled.ref, b.spooled.regions, s.readBuffers[j]!),
      weight: b.weight,
      scale: b.scale,
    })));
  }
}
