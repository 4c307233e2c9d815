/**
 * Secure aggregation's stages as the coordinator serves them: advertise
 * keys, share keys, masked input, unmask (SecAgg+). Each call checks that
 * the open round is secure and is the caller's round, and hands the stage's
 * input to the round's protocol (secure_round.ts), which learns only the sum.
 * @module
 */
import type { PublicKeys, RevealedShare, SealedShare } from "../../shared/secagg/client.ts";
import type { SecureAccepted, SecureState } from "../../shared/secagg/wire.ts";
import { ApiError } from "../http/errors.ts";
import type { SecureRound } from "../secure/secure_round.ts";
import { checkVocabularyOf } from "./_admission.ts";
import { seen } from "./_clients.ts";
import { refuseWhenHalted } from "./_lifecycle.ts";
import { keepUpdateFile } from "./_round/outputs.ts";
import { checkSelected, checkStarted } from "./_selection.ts";
import type { FederationState } from "./_state.ts";

/**
 * GET /v1/secagg: where the open round's secure protocol stands, and what
 * `clientId` needs next; with `round`, that round's (the open one or the
 * one closed last, so a client learns how its round ended).
 */
export function secureState(s: FederationState, clientId: string, round?: number): SecureState {
  const last = s.lastSecure;
  if (
    round !== undefined && last?.round === round &&
    (round !== s.round || !s.secure || s.phase === "finished")
  ) {
    return { round, ...last.secure.stateFor(clientId) };
  }
  if (round !== undefined && round !== s.round && s.secureParams) {
    throw new ApiError(
      409,
      "stale_update",
      `Cannot report secure round ${round}: the open round is ${s.round}`,
    );
  }
  const secure = secureRoundOpen(s, "report the secure round");
  return { round: s.round, ...secure.stateFor(clientId) };
}

/** POST /v1/secagg/keys: the advertise-keys stage. */
export function secureKeys(
  s: FederationState,
  clientId: string,
  round: number,
  keys: Omit<PublicKeys, "id">,
  about: { backend?: string; device?: string; runtime?: string; vocabulary?: string } = {},
): SecureAccepted {
  return secureStep(s, clientId, round, "advertise keys", (secure) => {
    // A sequence task's masked input must come from rows of its vocabulary: said up front.
    checkVocabularyOf(s, about);
    checkStarted(s, clientId, "advertise keys");
    checkSelected(s, clientId);
    secure.addKeys({ id: clientId, ...keys });
    const client = seen(s, clientId);
    client.backend = about.backend ?? client.backend;
    client.device = about.device ?? client.device;
    client.runtime = about.runtime ?? client.runtime;
  });
}

/** POST /v1/secagg/shares: stage shares. */
export function secureShares(
  s: FederationState,
  clientId: string,
  round: number,
  shares: Omit<SealedShare, "from">[],
): SecureAccepted {
  return secureStep(
    s,
    clientId,
    round,
    "accept shares",
    (secure) => secure.addShares(clientId, shares.map((share) => ({ ...share, from: clientId }))),
  );
}

/** POST /v1/secagg/input: stage input, the masked input as integers modulo 2^bits. */
export function secureInput(
  s: FederationState,
  clientId: string,
  round: number,
  input: Uint32Array,
): SecureAccepted {
  return secureStep(s, clientId, round, "accept a masked input", (secure) => {
    const known = secure.hasInput(clientId);
    secure.addInput(clientId, input);
    if (!known) {
      keepUpdateFile(
        s,
        round,
        `${clientId}.masked`,
        () => new Uint8Array(input.buffer, input.byteOffset, input.byteLength),
      );
    }
  });
}

/** POST /v1/secagg/reveal: stage unmask. */
export function secureReveal(
  s: FederationState,
  clientId: string,
  round: number,
  shares: Omit<RevealedShare, "from">[],
): SecureAccepted {
  return secureStep(
    s,
    clientId,
    round,
    "accept revealed shares",
    (secure) => secure.addReveal(clientId, shares.map((share) => ({ ...share, from: clientId }))),
  );
}

/** The open round's secure protocol, or the error that says why a stage cannot run now. */
function secureRoundOpen(s: FederationState, what: string): SecureRound {
  if (!s.secureParams) {
    throw new ApiError(
      409,
      "invalid_phase",
      `Cannot ${what}: task "${s.task.id}" does not use secure aggregation`,
    );
  }
  refuseWhenHalted(s, what);
  if (!s.secure || s.phase === "finished") {
    throw new ApiError(409, "stale_update", `Cannot ${what}: the run is ${s.phase}`);
  }
  return s.secure;
}

/** Runs a stage's `step` for the open round `round`, and records the client as taking part. */
function secureStep(
  s: FederationState,
  clientId: string,
  round: number,
  what: string,
  step: (secure: SecureRound) => void,
): SecureAccepted {
  const secure = secureRoundOpen(s, what);
  if (round !== s.round) {
    throw new ApiError(
      round > s.round ? 400 : 409,
      round > s.round ? "bad_request" : "stale_update",
      `Cannot ${what}: round ${round} is not the open round ${s.round}`,
    );
  }
  step(secure);
  s.participants.add(clientId);
  s.failed.delete(clientId);
  seen(s, clientId);
  return { accepted: true, round, stage: secure.stage };
}
