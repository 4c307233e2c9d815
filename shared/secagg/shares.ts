/**
 * t-of-n secret sharing of secure aggregation's secrets (the pairwise-mask
 * private keys and the self-mask seeds), by the audited `shamir-secret-sharing`
 * package (Shamir's scheme over GF(2^8), byte by byte).
 * @module
 */
import { combine, split } from "shamir-secret-sharing";

/**
 * Splits `secret` into `shares` shares of which any `threshold` rebuild it
 * (2 <= threshold <= shares <= 255).
 *
 * @example
 * ```ts
 * import { combineShares, splitSecret } from "./shares.ts";
 * import assert from "node:assert/strict";
 * const secret = crypto.getRandomValues(new Uint8Array(32));
 * const shares = await splitSecret(secret, { shares: 5, threshold: 3 });
 * assert.deepEqual(await combineShares([shares[4]!, shares[0]!, shares[2]!]), secret);
 * ```
 */
export async function splitSecret(
  secret: Uint8Array,
  options: { shares: number; threshold: number },
): Promise<Uint8Array[]> {
  const { shares, threshold } = options;
  if (!(Number.isInteger(threshold) && threshold >= 2 && threshold <= shares && shares <= 255)) {
    throw new RangeError(
      `Cannot share a secret ${threshold}-of-${shares}: need 2 <= threshold <= shares <= 255`,
    );
  }
  return await split(secret, shares, threshold);
}

/** Rebuilds a secret from at least its threshold of shares (fewer give a wrong value, not an error). */
export async function combineShares(shares: Uint8Array[]): Promise<Uint8Array> {
  if (shares.length < 2) throw new RangeError("Cannot rebuild a secret from fewer than 2 shares");
  return await combine(shares);
}
