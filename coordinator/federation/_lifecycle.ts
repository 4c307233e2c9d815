/**
 * A round's lifecycle: it opens, its deadline runs, it closes when enough
 * updates (or the secure protocol's outcome) are in, and the next one opens
 * or the run finishes; pause, resume and stop.
 *
 * training --(target, deadline + quorum, all drawn in, secure outcome)--> aggregating
 * aggregating --(commit failed)--> training (retried)
 * aggregating --(committed)--> training (next round) | finished
 * training <--> paused; training | paused --> stopped
 * @module
 */
import { graphSeed } from "../../shared/secagg/params.ts";
import { ApiError } from "../http/errors.ts";
import { type SecureEvent, type SecureOutcome, SecureRound } from "../secure/secure_round.ts";
import { inputLength } from "../secure/secure_task.ts";
import { closeRound } from "./_round/close.ts";
import { exportFinal } from "./_round/outputs.ts";
import { newSum } from "./_round/sum.ts";
import { allDrawnAnswered } from "./_selection.ts";
import type { FederationState } from "./_state.ts";

/** How long a failed close waits before it is tried again. */
const RETRY_CLOSE_MS = 2000;

/** Opens the round `s.round`; a secure round replays its recorded `secureEvents`. */
export function open(s: FederationState, secureEvents: SecureEvent[] = []): void {
  s.sum = newSum(s);
  s.secure?.close();
  s.secureOutcome = null;
  s.within = 0;
  s.secure = s.secureParams ? createSecureRound(s, secureEvents) : null;
  s.phase = "training";
  s.openedAt = performance.now();
  s.deadlinePassed = false;
  s.deadlineAt = null;
  s.pending.clear();
  s.participants.clear();
  s.failed.clear();
  if (s.started) armDeadline(s);
}

/** Starts (or restarts) the open round's deadline. */
export function armDeadline(s: FederationState): void {
  clearTimeout(s.timer);
  s.deadlineAt = Date.now() + s.task.rounds.timeoutSeconds * 1000;
  s.timer = setTimeout(() => {
    s.deadlinePassed = true;
    maybeClose(s);
  }, s.task.rounds.timeoutSeconds * 1000);
}

/**
 * Closes the open round if it is due: `targetClients` updates (async:
 * `bufferSize`), the deadline passed with `minClients`, or every drawn client
 * answered (Poisson sampling). A secure round closes on its protocol's outcome.
 */
export function maybeClose(s: FederationState): void {
  if (s.phase !== "training") return;
  if (s.secure) {
    // A secure round closes when its protocol ends (SecureRound's onDone).
    if (s.secureOutcome) closeSecure(s, s.secureOutcome);
    else if (s.deadlinePassed) s.secure.deadlinePassed();
    else s.secure.recheck();
    return;
  }
  const { targetClients, minClients, bufferSize } = s.task.rounds;
  const count = s.pending.size;
  const target = s.async ? bufferSize : targetClients;
  const drawnIn = s.privacy !== null && allDrawnAnswered(s, new Set(s.pending.keys()));
  if (count >= target || (s.deadlinePassed && count >= minClients) || drawnIn) startClose(s);
}

/** Closes a secure round with its protocol's outcome (kept, so that a failed close is retried). */
export function closeSecure(s: FederationState, outcome: SecureOutcome): void {
  s.secureOutcome = outcome;
  if (s.phase !== "training") return;
  startClose(s, outcome);
}

/** The open round's secure protocol, new or restored from its recorded events. */
function createSecureRound(s: FederationState, events: SecureEvent[]): SecureRound {
  const params = s.secureParams!;
  const round = s.round;
  return SecureRound.create({
    round,
    params,
    graphSeed: graphSeed(s.task.id, round),
    inputLength: inputLength(s.trainable),
    target: s.task.rounds.targetClients,
    quorum: Math.max(s.task.rounds.minClients, params.threshold),
    complete: s.privacy ? (advertised) => allDrawnAnswered(s, advertised) : undefined,
    record: (event) => s.options.storage?.saveSecureEvent(round, event),
    onDone: (outcome) => {
      if (s.round === round && s.secure) closeSecure(s, outcome);
    },
    onError: (error) => (s.options.onError ?? console.error)(error),
  }, events);
}

/** training -> aggregating: the close runs in the background (`s.closing`). */
function startClose(s: FederationState, secure?: SecureOutcome): void {
  clearTimeout(s.timer);
  s.phase = "aggregating";
  s.closing = closeAndAdvance(s, secure).finally(() => (s.closing = null));
}

/** Closes the round, then retries, finishes or opens the next round, as the close says. */
async function closeAndAdvance(s: FederationState, secure?: SecureOutcome): Promise<void> {
  const closed = await closeRound(s, secure);
  if (closed.next === "retry") {
    s.phase = "training";
    s.deadlinePassed = true;
    s.timer = setTimeout(() => maybeClose(s), RETRY_CLOSE_MS);
  } else if (closed.next === "finished") {
    s.phase = "finished";
    s.pending.clear();
    clearTimeout(s.timer);
    try {
      await exportFinal(s);
    } catch (error) {
      (s.options.onError ?? console.error)(error);
    }
    s.finished.resolve();
  } else {
    s.round = closed.round;
    open(s);
  }
}

/** Pauses the open round: updates are refused (409) and the deadline stops until {@linkcode resume}. */
export function pause(s: FederationState): void {
  if (s.phase === "paused") return;
  if (s.phase !== "training") throw invalidPhase(s, "pause");
  s.options.storage?.savePhase("paused");
  clearTimeout(s.timer);
  s.deadlineAt = null;
  s.phase = "paused";
}

/** Resumes a paused round with a fresh deadline. */
export function resume(s: FederationState): void {
  if (s.phase !== "paused") throw invalidPhase(s, "resume");
  s.options.storage?.savePhase("training");
  s.phase = "training";
  if (s.started) armDeadline(s);
  maybeClose(s);
}

/** The error for pausing or resuming a task that is in no phase to be. */
function invalidPhase(s: FederationState, action: "pause" | "resume"): ApiError {
  return new ApiError(
    409,
    "invalid_phase",
    `Cannot ${action} task "${s.task.id}": it is ${s.phase}`,
  );
}

/** Refuses what clients send (`what`) while the task is paused or stopped (409). */
export function refuseWhenHalted(s: FederationState, what: string): void {
  if (s.phase === "paused" || s.phase === "stopped") {
    throw new ApiError(
      409,
      s.phase === "paused" ? "task_paused" : "task_stopped",
      `Cannot ${what}: task "${s.task.id}" is ${s.phase}`,
    );
  }
}

/** Waits for a round being closed, if any. */
export async function settled(s: FederationState): Promise<void> {
  while (s.closing) await s.closing;
}

/**
 * Stops the run after any round being closed: the open round's updates are
 * dropped, the final model is exported, and `finished` resolves.
 */
export async function stop(s: FederationState): Promise<void> {
  await settled(s);
  if (s.phase === "finished" || s.phase === "stopped") return;
  s.options.storage?.savePhase("stopped", { dropPending: true });
  s.secure?.close();
  s.options.storage?.prune();
  await end(s, "stopped");
}

/** The run is over (stopped, or restored finished or stopped): no round is open, the final model is exported. */
export async function end(s: FederationState, phase: "finished" | "stopped"): Promise<void> {
  clearTimeout(s.timer);
  s.phase = phase;
  s.pending.clear();
  await exportFinal(s);
  s.finished.resolve();
}
