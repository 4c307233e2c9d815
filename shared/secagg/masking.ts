/**
 * Masking and unmasking of quantized inputs (Bonawitz et al. 2017; Bell et
 * al. 2020): a client adds its self mask and, for each neighbour, the
 * pairwise mask it shares with it, with the sign of their order (+ towards a
 * later client, - towards an earlier one), so that the pairwise masks of two
 * clients that both send cancel in the sum. The coordinator removes the
 * survivors' self masks and the pairwise masks that survivors shared with
 * dropped clients. Pure over arrays; the masks come from `mask.ts`.
 * @module
 */
import { expandMask } from "./mask.ts";
import { addModular } from "./quantize.ts";

/** The sign of the pairwise mask client `me` adds towards `other`: +1 towards a later client. */
export function pairwiseSign(me: string, other: string): 1 | -1 {
  if (me === other) throw new RangeError(`A client has no pairwise mask with itself ("${me}")`);
  return me < other ? 1 : -1;
}

/** A mask to add: its seed and its sign. */
export interface SignedSeed {
  seed: Uint8Array;
  sign: 1 | -1;
}

/**
 * `input` plus the self mask of `selfSeed` plus each signed pairwise mask,
 * modulo 2^bits (a new array).
 *
 * @example
 * ```ts
 * import { maskInput } from "./masking.ts";
 * import assert from "node:assert/strict";
 * const masked = await maskInput(Uint32Array.of(1, 2, 3), {
 *   bits: 32,
 *   selfSeed: new Uint8Array(32).fill(1),
 *   pairwise: [{ seed: new Uint8Array(32).fill(2), sign: 1 }],
 * });
 * assert.ok(masked.length === 3);
 * ```
 */
export async function maskInput(
  input: Uint32Array,
  options: { bits: number; selfSeed: Uint8Array; pairwise: SignedSeed[] },
): Promise<Uint32Array> {
  const out = Uint32Array.from(input);
  addModular(out, await expandMask(options.selfSeed, input.length, options.bits), 1, options.bits);
  for (const { seed, sign } of options.pairwise) {
    addModular(out, await expandMask(seed, input.length, options.bits), sign, options.bits);
  }
  return out;
}

/**
 * The sum of the survivors' inputs from the sum of their masked inputs:
 * minus each survivor's self mask, minus the pairwise masks that survivors
 * added towards dropped clients (`residual`, each with the sign the survivor
 * used), modulo 2^bits (a new array).
 */
export async function unmaskSum(
  maskedSum: Uint32Array,
  options: { bits: number; selfSeeds: Uint8Array[]; residual: SignedSeed[] },
): Promise<Uint32Array> {
  const out = Uint32Array.from(maskedSum);
  for (const seed of options.selfSeeds) {
    addModular(out, await expandMask(seed, out.length, options.bits), -1, options.bits);
  }
  for (const { seed, sign } of options.residual) {
    addModular(
      out,
      await expandMask(seed, out.length, options.bits),
      sign === 1 ? -1 : 1,
      options.bits,
    );
  }
  return out;
}
