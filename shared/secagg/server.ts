/**
 * The coordinator's side of one secure-aggregation round, as pure functions
 * over what it collected: route the sealed shares it cannot read, and unmask
 * the sum of the masked inputs from the shares the survivors reveal. It
 * learns the sum of the survivors' inputs and nothing about any one of them.
 * @module
 */
import type { PublicKeys, RevealedShare, RoundParams, SealedShare } from "./client.ts";
import { maskInfo } from "./client.ts";
import { agree, importPrivateKey } from "./keys.ts";
import { addModular } from "./quantize.ts";
import { pairwiseSign, type SignedSeed, unmaskSum } from "./masking.ts";
import { combineShares } from "./shares.ts";

/** The sealed shares of stage 1 grouped by recipient, as each recipient gets them. */
export function routeShares(shares: SealedShare[]): Map<string, SealedShare[]> {
  const routed = new Map<string, SealedShare[]>();
  for (const share of shares) {
    if (share.from === share.to) throw new RangeError(`"${share.from}" sealed a share to itself`);
    routed.set(share.to, [...(routed.get(share.to) ?? []), share]);
  }
  return routed;
}

/** What {@linkcode unmask} needs: the round, who did what, and what was revealed. */
export interface UnmaskInput {
  params: RoundParams;
  /** The public keys of the clients that shared keys (stage 1). */
  keys: Map<string, PublicKeys>;
  /** Each client's neighbours. */
  graph: Map<string, Set<string>>;
  /** The masked inputs received (stage 2), by client. */
  maskedInputs: Map<string, Uint32Array>;
  /** The shares revealed in stage 3. */
  revealed: RevealedShare[];
}

/** The round cannot be unmasked (too few shares); nothing was revealed beyond the shares. */
export class UnmaskError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UnmaskError";
  }
}

/**
 * The sum modulo 2^bits of the inputs of the clients that sent one, from
 * their masked inputs: each survivor's self mask is rebuilt from at least
 * `threshold` revealed seed shares; each client that shared keys but sent no
 * input has its mask key rebuilt, and the pairwise masks its surviving
 * neighbours added towards it are taken out. Throws {@linkcode UnmaskError}
 * when a secret has fewer than `threshold` shares.
 */
export async function unmask(
  input: UnmaskInput,
): Promise<{ sum: Uint32Array; survivors: string[] }> {
  const { params, keys, graph, maskedInputs, revealed } = input;
  const survivors = [...maskedInputs.keys()].sort();
  const dropped = [...keys.keys()].filter((id) => !maskedInputs.has(id)).sort();
  if (survivors.length < params.threshold) {
    throw new UnmaskError(
      `Cannot unmask round ${params.round}: ${survivors.length} clients sent their input, fewer than the threshold ${params.threshold}`,
    );
  }
  const length = maskedInputs.get(survivors[0]!)!.length;
  const maskedSum = new Uint32Array(length);
  for (const id of survivors) {
    const masked = maskedInputs.get(id)!;
    if (masked.length !== length) {
      throw new UnmaskError(`"${id}" sent ${masked.length} values, the others ${length}`);
    }
    addModular(maskedSum, masked, 1, params.bits);
  }
  const sharesOf = (about: string, kind: RevealedShare["kind"]) => {
    const byHolder = new Map<string, Uint8Array>();
    for (const r of revealed) {
      if (r.about === about && r.kind === kind) byHolder.set(r.from, r.share);
    }
    if (byHolder.size < params.threshold) {
      throw new UnmaskError(
        `Cannot unmask round ${params.round}: ${byHolder.size} shares of ${kind} of "${about}", fewer than the threshold ${params.threshold}`,
      );
    }
    return [...byHolder.values()];
  };
  const selfSeeds: Uint8Array[] = [];
  for (const id of survivors) selfSeeds.push(await combineShares(sharesOf(id, "self-mask seed")));
  const residual: SignedSeed[] = [];
  for (const gone of dropped) {
    const maskKey = await importPrivateKey(await combineShares(sharesOf(gone, "mask key")));
    for (const neighbour of graph.get(gone) ?? []) {
      if (!maskedInputs.has(neighbour)) continue;
      residual.push({
        seed: await agree(maskKey, keys.get(neighbour)!.maskKey, maskInfo(params.round)),
        sign: pairwiseSign(neighbour, gone),
      });
    }
  }
  return { sum: await unmaskSum(maskedSum, { bits: params.bits, selfSeeds, residual }), survivors };
}
