/**
 * Which clients take part in a synchronous round when only a fraction of
 * them should: a hash of the task, the client and the round, so the choice
 * needs no state, differs from round to round and is the same on every
 * coordinator replica.
 * @module
 */
import { fnv1a } from "../../shared/random.ts";

/** FNV-1a of `text` with a final avalanche (murmur3's fmix32), so nearby inputs spread out. */
function spreadHash(text: string): number {
  let hash = fnv1a(text);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** Options of {@linkcode isSelected}. */
export interface SelectionOptions {
  taskId: string;
  clientId: string;
  round: number;
  /** Share of the clients that take part, in (0, 1]; 1 selects everyone. */
  fraction: number;
}

/**
 * Whether a client takes part in a round: true for about `fraction` of the
 * clients, a different draw each round.
 *
 * @example
 * ```ts
 * import { isSelected } from "./select_clients.ts";
 * import assert from "node:assert/strict";
 * assert.equal(isSelected({ taskId: "t", clientId: "c1", round: 3, fraction: 1 }), true);
 * const ids = Array.from({ length: 1000 }, (_, i) => `c${i}`);
 * const chosen = ids.filter((clientId) => isSelected({ taskId: "t", clientId, round: 1, fraction: 0.3 }));
 * assert.ok(chosen.length > 250 && chosen.length < 350);
 * ```
 */
export function isSelected(options: SelectionOptions): boolean {
  const { taskId, clientId, round, fraction } = options;
  if (fraction >= 1) return true;
  return spreadHash(`${taskId}\u0000${clientId}\u0000${round}`) / 2 ** 32 < fraction;
}
