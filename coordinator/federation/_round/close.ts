/**
 * Closing a round, as named stages over the federation's state:
 *
 * collect -> aggregate -> account privacy -> next global (applied, or
 * relayed upstream) -> server fine-tune -> metrics -> commit -> apply.
 *
 * Nothing before the commit changes the state: if a stage throws, the model
 * and the strategy's optimiser go back to where they were, the round stays
 * open with its updates, and the close is retried ({@linkcode CloseStep}).
 * @module
 */
import { readWeights, writeWeights } from "../../../shared/model/model.ts";
import { noisedMean } from "../../../shared/privacy/mechanism.ts";
import { encodeSafetensors, type Float32Tensor } from "../../../shared/wire/safetensors.ts";
import type { RoundMetrics } from "../../../shared/schemas/mod.ts";
import { maybeCrash } from "../../storage/fault.ts";
import { privacyAfterRound } from "../../privacy/privacy_task.ts";
import { applyDelta, type RoundSummary, storedClient, summarize } from "./parts.ts";
import { inputLength, secureMean } from "../../secure/secure_task.ts";
import { encodeStrategyState } from "../../storage/strategy_state.ts";
import { stalenessWeight } from "../../aggregate/staleness.ts";
import type { SecureOutcome } from "../../secure/secure_round.ts";
import type { AggregateOutput, ClientFailure } from "../../aggregate/strategy.ts";
import { measure } from "./outputs.ts";
import { foldUnfolded } from "./sum.ts";
import type { FederationState, PendingUpdate } from "../_state.ts";

/** What follows a close: a retry (nothing was committed), the run's end, or round `round`. */
export type CloseStep =
  | { next: "retry" }
  | { next: "finished" }
  | { next: "open"; round: number };

/** Stage collect: the round's updates (in client order), failures and summary. */
interface Collected {
  pending: PendingUpdate[];
  failures: ClientFailure[];
  /** A secure round's decoded sum. */
  decoded: ReturnType<typeof secureMean> | null;
  summary: RoundSummary;
}

/** Stage next global: the weights the close produces and where the run goes. */
interface NextGlobal {
  global: Map<string, Float32Tensor>;
  round: number;
  version: number;
  /** Whether this was the run's last round. */
  last: boolean;
}

type PrivacyAfter = ReturnType<typeof privacyAfterRound>;

/**
 * Closes the open round (`secure`: a secure round's protocol outcome) and
 * says what follows; the state is changed only once the close is committed.
 */
export async function closeRound(
  s: FederationState,
  secure?: SecureOutcome,
): Promise<CloseStep> {
  const collected = collect(s, secure);
  foldUnfolded(s);
  // The server optimiser's state before this close, to go back to if it fails.
  const strategyBefore = s.strategy.saveState();
  let next: NextGlobal;
  let metrics: RoundMetrics;
  try {
    const aggregationStart = performance.now();
    const outcome = aggregate(s, collected, secure);
    const privacy = s.privacy
      ? privacyAfterRound(s.privacy, s.history, { clip: s.clip, within: s.within })
      : null;
    next = await nextGlobal(s, collected.summary, outcome, privacy?.exhausted ?? false);
    const aggregationSeconds = (performance.now() - aggregationStart) / 1000;
    writeWeights(s.model, next.global);
    next.global = await fineTuneAtServer(s, next.global);
    metrics = await roundMetrics(s, {
      collected,
      next,
      outcome,
      privacy,
      secure,
      aggregationSeconds,
    });
    commit(s, next, metrics);
  } catch (error) {
    // Nothing is committed: the model and the optimiser go back to where
    // they were and the round stays open with its updates; closing is tried again.
    writeWeights(s.model, s.global);
    s.strategy.loadState(strategyBefore);
    (s.options.onError ?? console.error)(error);
    return { next: "retry" };
  }
  apply(s, next, metrics, secure);
  return next.last ? { next: "finished" } : { next: "open", round: next.round };
}

/** Stage collect. */
function collect(s: FederationState, secure: SecureOutcome | undefined): Collected {
  // In client order, not arrival order: float sums depend on their order,
  // and this keeps a round's result the same however the updates raced in.
  const pending = [...s.pending.values()].sort((a, b) =>
    a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0
  );
  const failures = roundFailures(s);
  const decoded = secure?.kind === "sum"
    ? secureMean(secure.sum, secure.survivors.length, s.trainable, s.secureParams!)
    : null;
  const summary: RoundSummary = decoded && secure?.kind === "sum"
    ? {
      clients: secure.survivors.length,
      numLabeled: decoded.numLabeled,
      numUnlabeled: decoded.numUnlabeled,
      bytesReceived: secure.survivors.length * inputLength(s.trainable) * 4,
      evaluations: [],
    }
    : summarize(pending.map((p) => p.update));
  return { pending, failures, decoded, summary };
}

/** The open round's failures: reported ones, then participants without an update. */
export function roundFailures(s: FederationState): ClientFailure[] {
  const failures = [...s.failed].map(([clientId, reason]) => ({ clientId, reason }));
  // Async clients train across buffers: only reported failures count.
  if (s.async) return failures;
  for (const clientId of s.participants) {
    if (s.secure) {
      if (!s.secure.hasInput(clientId) && !s.failed.has(clientId)) {
        failures.push({ clientId, reason: s.secure.dropReason(clientId) });
      }
    } else if (!s.pending.has(clientId) && !s.failed.has(clientId)) {
      failures.push({ clientId, reason: "no update before the round closed" });
    }
  }
  return failures;
}

/**
 * Stage aggregate: the strategy's step, from the secure sum, the running
 * sum (central DP: noised), or every update.
 */
function aggregate(
  s: FederationState,
  { pending, failures, decoded }: Collected,
  secure: SecureOutcome | undefined,
): AggregateOutput {
  if (secure?.kind === "failed") {
    return { step: null, keptBecause: `secure aggregation failed: ${secure.reason}`, used: [] };
  }
  if (secure?.kind === "sum") {
    return s.strategy.aggregateMean!({
      round: s.round,
      // Distributed DP: the noised sum over the fixed denominator.
      mean: s.privacy && decoded!.meanOrNull
        ? decoded!.meanOrNull.map((t) =>
          t.map((v) => (v * secure.survivors.length) / s.privacy!.expectedClients)
        )
        : decoded!.meanOrNull,
      used: secure.survivors,
      failures,
    });
  }
  if (s.sum && s.strategy.aggregateMean) {
    return s.strategy.aggregateMean({
      round: s.round,
      mean: s.privacy ? centralNoisedMean(s) : s.sum.mean(),
      used: pending.map((p) => p.clientId),
      failures,
    });
  }
  return s.strategy.aggregate({
    round: s.round,
    results: pending.map(({ clientId, update: u, staleness }) => ({
      clientId,
      tensors: u.tensors,
      numLabeled: u.metadata.numLabeled,
      numUnlabeled: u.metadata.numUnlabeled,
      ...(s.async ? { scale: stalenessWeight(staleness, s.task.rounds.staleness) } : {}),
    })),
    failures,
  });
}

/** Central DP: the clipped sum plus Gaussian noise of z x C, over the fixed denominator. */
function centralNoisedMean(s: FederationState): Float32Array[] | null {
  const p = s.privacy!;
  if (!s.sum || s.sum.count === 0) return null;
  const z = p.adaptive?.updateNoiseMultiplier ?? p.noiseMultiplier;
  return noisedMean(s.sum.sums(), {
    noiseStd: z * s.clip,
    denominator: p.expectedClients,
  });
}

/**
 * Stage next global: the step applied to the global; at an edge, the
 * combined update goes upstream and the cloud's next global comes back.
 * The run ends after the last round, or before one that would exceed the
 * privacy budget (`exhausted`).
 */
async function nextGlobal(
  s: FederationState,
  summary: RoundSummary,
  outcome: AggregateOutput,
  exhausted: boolean,
): Promise<NextGlobal> {
  const last = s.round >= s.task.rounds.total || exhausted;
  const step = outcome.step;
  if (s.options.relay && step) {
    const upstream = await s.options.relay.forward({
      round: s.round,
      baseVersion: s.version,
      delta: new Map(s.trainable.map((w, i) => [w.name, { shape: w.shape, data: step[i]! }])),
      numLabeled: summary.numLabeled,
      numUnlabeled: summary.numUnlabeled,
      devices: summary.clients,
    });
    return {
      global: new Map(s.weights.map((w) => [w.name, upstream.global.get(w.name)!])),
      round: upstream.round,
      version: upstream.version,
      last: upstream.finished,
    };
  }
  return {
    global: step ? applyDelta(s.global, s.trainable, step) : s.global,
    round: s.round + 1,
    version: s.version + 1,
    last,
  };
}

/** Stage server fine-tune: the coordinator trains on its own rows (serverTraining). */
async function fineTuneAtServer(
  s: FederationState,
  global: Map<string, Float32Tensor>,
): Promise<Map<string, Float32Tensor>> {
  if (!s.serverTrainer || !s.task.serverTraining) return global;
  await s.serverTrainer.train(s.task.serverTraining, { round: s.round });
  return new Map([...global, ...readWeights(s.model, { trainableOnly: true })]);
}

/** Stage metrics: evaluation, checkpoint, and what the round was made of. */
async function roundMetrics(s: FederationState, of: {
  collected: Collected;
  next: NextGlobal;
  outcome: AggregateOutput;
  privacy: PrivacyAfter | null;
  secure: SecureOutcome | undefined;
  aggregationSeconds: number;
}): Promise<RoundMetrics> {
  const { collected: { pending, failures, summary }, next, outcome, privacy, secure } = of;
  return {
    ...await measure(s, {
      round: s.round,
      summary,
      version: next.version,
      openedAt: s.openedAt,
      weights: next.global,
    }),
    failures,
    keptBecause: outcome.keptBecause,
    updates: secure?.kind === "sum"
      ? secure.survivors.map((clientId) => ({ clientId, staleness: 0, weight: 1 }))
      : pending.map((p) => ({
        clientId: p.clientId,
        staleness: p.staleness,
        weight: s.async ? stalenessWeight(p.staleness, s.task.rounds.staleness) : 1,
        norm: p.update.norm,
      })),
    aggregationSeconds: of.aggregationSeconds,
    ...(privacy ? { privacy: privacy.metrics } : {}),
    ...(secure
      ? {
        secureAggregation: {
          advertised: secure.advertised,
          survivors: secure.kind === "sum" ? secure.survivors.length : 0,
          dropped: secure.kind === "sum" ? secure.dropped.length : 0,
          unmaskSeconds: secure.kind === "sum" ? secure.unmaskSeconds : 0,
        },
      }
      : {}),
  };
}

/** Stage commit: the new global, phase, metrics and clients, in one transaction. */
function commit(s: FederationState, next: NextGlobal, metrics: RoundMetrics): void {
  maybeCrash("COMMIT");
  s.options.storage?.commitRound({
    round: next.last ? s.round : next.round,
    version: next.version,
    phase: next.last ? "finished" : "training",
    global: encodeSafetensors(next.global),
    strategy: encodeStrategyState(s.strategy.saveState()),
    metrics,
    clients: [...s.clients.values()].map(storedClient),
  });
}

/** Stage apply: the committed close becomes the state. */
function apply(
  s: FederationState,
  next: NextGlobal,
  metrics: RoundMetrics,
  secure: SecureOutcome | undefined,
): void {
  s.global = next.global;
  s.version = next.version;
  // The round's updates are in the global now: their spool segments go.
  s.options.storage?.prune();
  if (metrics.privacy) s.clip = metrics.privacy.nextClip;
  if (secure?.kind === "sum") {
    for (const id of secure.survivors) {
      const client = s.clients.get(id);
      if (client) client.updatesAccepted++;
    }
  }
  if (s.secure) s.lastSecure = { round: s.round, secure: s.secure };
  s.history.push(metrics);
  s.options.onRound?.(metrics);
}
