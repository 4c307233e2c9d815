/**
 * Who takes part in the open round: whether rounds have started, the clients
 * drawn for it (a fraction, or Poisson sampling under differential privacy),
 * and whether every drawn client has answered.
 * @module
 */
import { ApiError } from "../http/errors.ts";
import { isSelected } from "./select_clients.ts";
import { isDrawn } from "../privacy/privacy_task.ts";
import type { FederationState } from "./_state.ts";

/**
 * Rounds start once `rounds.minAvailable` clients have shown up: `clientId`
 * counts towards them (409 not_started until then), though it is only
 * recorded once what it sent is accepted, so a refusal changes nothing.
 */
export function checkStarted(s: FederationState, clientId: string, what: string): void {
  const available = s.clients.size + (s.clients.has(clientId) ? 0 : 1);
  if (available < s.minAvailable) {
    throw new ApiError(
      409,
      "not_started",
      `Cannot ${what}: rounds start once ${s.minAvailable} clients have joined (${available} so far)`,
    );
  }
}

/**
 * Sync rounds with `rounds.fraction` below 1: a client that is not drawn
 * for the open round is refused (409 not_selected) until the deadline has
 * passed, when any client may fill the quorum.
 */
export function checkSelected(s: FederationState, clientId: string): void {
  const { fraction } = s.task.rounds;
  if (s.privacy) {
    // Poisson sampling from a secret seed, with no filling-in after the
    // deadline: the accountant's sampling rate holds.
    const drawn = isDrawn(s.samplingSecret, {
      taskId: s.task.id,
      clientId,
      round: s.round,
      sampleRate: s.privacy.sampleRate,
    });
    if (!drawn) {
      throw new ApiError(
        409,
        "not_selected",
        `Client "${clientId}" is not drawn for round ${s.round} (Poisson sampling at rate ${fraction}, differential privacy); it may be drawn in a later round`,
      );
    }
    return;
  }
  if (s.async || fraction >= 1 || s.deadlinePassed) return;
  if (!isSelected({ taskId: s.task.id, clientId, round: s.round, fraction })) {
    throw new ApiError(
      409,
      "not_selected",
      `Client "${clientId}" is not drawn for round ${s.round} (fraction ${fraction}); it may join at the deadline or in a later round`,
    );
  }
}

/**
 * Poisson-sampled rounds: whether the whole population (privacy.population)
 * has shown up and every client drawn for the open round has answered (is
 * in `answered`, or reported a failure), at least one drawn. Such a round
 * closes without waiting for targetClients or the deadline.
 */
export function allDrawnAnswered(s: FederationState, answered: ReadonlySet<string>): boolean {
  // Only once the whole population is known: a client not yet seen may be drawn.
  if (!s.privacy || !s.started || s.clients.size < s.privacy.population) {
    return false;
  }
  let drawn = 0;
  for (const clientId of s.clients.keys()) {
    const isIn = isDrawn(s.samplingSecret, {
      taskId: s.task.id,
      clientId,
      round: s.round,
      sampleRate: s.privacy.sampleRate,
    });
    if (!isIn) continue;
    drawn++;
    if (!answered.has(clientId) && !s.failed.has(clientId)) return false;
  }
  return drawn > 0;
}
