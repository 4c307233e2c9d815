/**
 * A secure round's events (what is recorded, in order, and replayed on a
 * restart), how a round ends, and the options it is created with.
 * @module
 */
import type { PublicKeys, RevealedShare, SealedShare } from "../../shared/secagg/client.ts";
import type { SecureParams } from "../../shared/secagg/params.ts";
import type { SecureStage } from "../../shared/secagg/wire.ts";

/** One change of a secure round, in the order it happened. */
export type SecureEvent =
  | { kind: "keys"; keys: PublicKeys }
  | { kind: "shares"; from: string; shares: SealedShare[] }
  | { kind: "input"; from: string; input: Uint32Array }
  | { kind: "reveal"; from: string; shares: RevealedShare[] }
  | { kind: "advance"; to: SecureStage; reason?: string };

/** How a secure round ended. */
export type SecureOutcome =
  | {
    kind: "sum";
    sum: Uint32Array;
    survivors: string[];
    /** Clients that shared keys but sent no input (their masks were removed). */
    dropped: string[];
    advertised: number;
    unmaskSeconds: number;
  }
  | { kind: "failed"; reason: string; advertised: number };

/** Options of `SecureRound.create`. */
export interface SecureRoundOptions {
  round: number;
  params: SecureParams;
  /** The public seed of the neighbour graph. */
  graphSeed: number;
  /** Values in each input (the trainable values and the trailer). */
  inputLength: number;
  /** The keys stage closes as soon as this many clients advertised. */
  target: number;
  /** After the round's deadline, the keys stage closes with this many. */
  quorum: number;
  /** Stores an event durably; it throws when it cannot, and nothing changes. */
  record?: (event: SecureEvent) => void;
  /** Called once, when the round is unmasked or has failed. */
  onDone: (outcome: SecureOutcome) => void;
  /**
   * Whether every client expected this round has advertised (Poisson-sampled
   * rounds: the drawn ones); the keys stage then closes without waiting for
   * `target`, or fails below `quorum`. @default never
   */
  complete?: (advertised: ReadonlySet<string>) => boolean;
  /** Called when unmasking throws for a reason that is not the protocol's. */
  onError?: (error: unknown) => void;
}
