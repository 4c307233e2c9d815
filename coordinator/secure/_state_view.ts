/**
 * What a secure round tells one client of where the protocol stands: its
 * stage, whether it takes part and is done, and what its next step needs
 * (neighbours' keys, the shares sealed to it, survivors and dropped). Pure,
 * over the round's state. Private to secure/.
 * @module
 */
import type { PublicKeys, RevealedShare, SealedShare } from "../../shared/secagg/client.ts";
import { type SecureStage, type SecureState, toBase64 } from "../../shared/secagg/wire.ts";

/** The parts of a round's state that {@linkcode stateView} reads. */
export interface SecureRoundView {
  stage: SecureStage;
  deadlineAt: number | null;
  reason: string | null;
  keys: ReadonlyMap<string, PublicKeys>;
  graph: ReadonlyMap<string, Set<string>>;
  shares: ReadonlyMap<string, SealedShare[]>;
  inputs: ReadonlyMap<string, Uint32Array>;
  survivors: ReadonlySet<string>;
  dropped: ReadonlySet<string>;
  revealed: ReadonlyMap<string, RevealedShare[]>;
}

/** What `clientId` needs to know for its next step, from the round's state. */
export function stateView(round: SecureRoundView, clientId: string): Omit<SecureState, "round"> {
  const base = {
    stage: round.stage,
    deadline: round.deadlineAt === null ? null : new Date(round.deadlineAt).toISOString(),
    reason: round.reason,
  };
  const neighbours = round.graph.get(clientId);
  switch (round.stage) {
    case "keys":
      return { ...base, participant: round.keys.has(clientId), done: round.keys.has(clientId) };
    case "shares":
      return {
        ...base,
        participant: neighbours !== undefined,
        done: round.shares.has(clientId),
        ...(neighbours
          ? {
            neighbours: [...neighbours].map((id) => {
              const k = round.keys.get(id)!;
              return {
                id,
                encryptionKey: toBase64(k.encryptionKey),
                maskKey: toBase64(k.maskKey),
              };
            }),
          }
          : {}),
      };
    case "input": {
      const participant = round.shares.has(clientId);
      const sealed = participant
        ? [...round.shares.values()].flatMap((list) => list.filter((s) => s.to === clientId))
        : [];
      return {
        ...base,
        participant,
        done: round.inputs.has(clientId),
        ...(participant
          ? { shares: sealed.map((s) => ({ from: s.from, ciphertext: toBase64(s.ciphertext) })) }
          : {}),
      };
    }
    case "unmask": {
      const participant = round.survivors.has(clientId);
      const near = [clientId, ...(neighbours ?? [])];
      return {
        ...base,
        participant,
        done: round.revealed.has(clientId),
        ...(participant
          ? {
            survivors: near.filter((id) => round.survivors.has(id)).sort(),
            dropped: near.filter((id) => round.dropped.has(id)).sort(),
          }
          : {}),
      };
    }
    default:
      return { ...base, participant: round.inputs.has(clientId), done: true };
  }
}
