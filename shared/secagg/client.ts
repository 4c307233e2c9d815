/**
 * A client's side of one secure-aggregation round, as stages over its own
 * state (the same code in Deno, Node.js and the browser): advertise two
 * public keys; share its mask key and self-mask seed t-of-n among its
 * neighbours, each share sealed to its recipient; mask its quantized input;
 * and reveal, for each neighbour, the share the coordinator may have: the
 * self-mask share of a neighbour that sent its input, or the mask-key share
 * of one that dropped, never both.
 * @module
 */
import {
  agree,
  type AgreementKeys,
  exportPrivateKey,
  generateAgreementKeys,
  open,
  seal,
} from "./keys.ts";
import { SEED_BYTES } from "./mask.ts";
import { maskInput, pairwiseSign } from "./masking.ts";
import { splitSecret } from "./shares.ts";

/** A round's public settings, the same for every party. */
export interface RoundParams {
  round: number;
  /** Shares needed to rebuild a secret. */
  threshold: number;
  /** Sums are modulo 2^bits. */
  bits: number;
}

/** A client's public keys: one to seal shares to it, one for its pairwise masks. */
export interface PublicKeys {
  id: string;
  encryptionKey: Uint8Array;
  maskKey: Uint8Array;
}

/** A sealed pair of shares from one client to another, which only the recipient can open. */
export interface SealedShare {
  from: string;
  to: string;
  ciphertext: Uint8Array;
}

/** A share a client reveals in the last stage, about `about`'s secret. */
export interface RevealedShare {
  from: string;
  about: string;
  kind: "self-mask seed" | "mask key";
  share: Uint8Array;
}

/** Where a client's round stands: the next stage is the one named. */
type Stage = "keys" | "shared" | "masked" | "revealed";

/** What the HKDF info says a derived key is for. */
export const maskInfo = (round: number) => `secagg round ${round} pairwise mask`;
const shareInfo = (round: number) => `secagg round ${round} share encryption`;
const shareContext = (round: number, from: string, to: string) =>
  `secagg round ${round} shares ${from} -> ${to}`;

/**
 * One client's round. Create it with {@linkcode SecAggClient.create}, then
 * call the stages in order.
 */
export class SecAggClient {
  readonly id: string;
  readonly params: RoundParams;
  readonly #encryption: AgreementKeys;
  readonly #mask: AgreementKeys;
  readonly #selfSeed = crypto.getRandomValues(new Uint8Array(SEED_BYTES));
  #neighbours = new Map<string, PublicKeys>();
  /** The shares neighbours sealed to this client, by sender (kept for the last stage). */
  #received = new Map<string, Uint8Array>();
  #stage: Stage = "keys";

  private constructor(
    id: string,
    params: RoundParams,
    encryption: AgreementKeys,
    mask: AgreementKeys,
  ) {
    this.id = id;
    this.params = params;
    this.#encryption = encryption;
    this.#mask = mask;
  }

  /** Stage 0: fresh key pairs for the round. */
  static async create(id: string, params: RoundParams): Promise<SecAggClient> {
    return new SecAggClient(
      id,
      params,
      await generateAgreementKeys(),
      await generateAgreementKeys(true),
    );
  }

  /** The public keys to advertise. */
  publicKeys(): PublicKeys {
    return {
      id: this.id,
      encryptionKey: this.#encryption.publicKey,
      maskKey: this.#mask.publicKey,
    };
  }

  /**
   * Stage 1: splits the mask key and the self-mask seed among the neighbours
   * and this client (threshold of them rebuild each), and seals each
   * neighbour's pair of shares to it.
   */
  async shareKeys(neighbours: PublicKeys[]): Promise<SealedShare[]> {
    this.#expect("keys");
    const { round, threshold } = this.params;
    if (neighbours.some((n) => n.id === this.id)) {
      throw new RangeError("A client is not its own neighbour");
    }
    if (neighbours.length + 1 < threshold) {
      throw new RangeError(
        `Cannot share keys: ${neighbours.length} neighbours and this client are fewer than the threshold ${threshold}`,
      );
    }
    this.#neighbours = new Map(neighbours.map((n) => [n.id, n]));
    const holders = [this.id, ...neighbours.map((n) => n.id)];
    const maskKey = await exportPrivateKey(this.#mask.privateKey);
    const keyShares = await splitSecret(maskKey, { shares: holders.length, threshold });
    const seedShares = await splitSecret(this.#selfSeed, { shares: holders.length, threshold });
    const sealed: SealedShare[] = [];
    for (let i = 1; i < holders.length; i++) {
      const to = holders[i]!;
      const key = await agree(
        this.#encryption.privateKey,
        this.#neighbours.get(to)!.encryptionKey,
        shareInfo(round),
      );
      sealed.push({
        from: this.id,
        to,
        ciphertext: await seal(
          key,
          pack(keyShares[i]!, seedShares[i]!),
          shareContext(round, this.id, to),
        ),
      });
    }
    // This client's own pair stays with it, as if sealed to itself.
    this.#received.set(this.id, pack(keyShares[0]!, seedShares[0]!));
    this.#stage = "shared";
    return sealed;
  }

  /**
   * Stage 2: keeps the shares sealed to this client (opened now, so a changed
   * one is refused at once) and returns its quantized `input` plus its self
   * mask plus the pairwise masks towards the neighbours that shared keys.
   */
  async maskInput(input: Uint32Array, received: SealedShare[]): Promise<Uint32Array> {
    this.#expect("shared");
    const { round, bits } = this.params;
    for (const share of received) {
      const from = this.#neighbours.get(share.from);
      if (share.to !== this.id || !from) {
        throw new RangeError(
          `A share from "${share.from}" to "${share.to}" is not for this client`,
        );
      }
      const key = await agree(this.#encryption.privateKey, from.encryptionKey, shareInfo(round));
      this.#received.set(
        share.from,
        await open(key, share.ciphertext, shareContext(round, share.from, this.id)),
      );
    }
    const pairwise = [];
    for (const id of this.#received.keys()) {
      if (id === this.id) continue;
      const seed = await agree(
        this.#mask.privateKey,
        this.#neighbours.get(id)!.maskKey,
        maskInfo(round),
      );
      pairwise.push({ seed, sign: pairwiseSign(this.id, id) });
    }
    this.#stage = "masked";
    return await maskInput(input, { bits, selfSeed: this.#selfSeed, pairwise });
  }

  /**
   * Stage 3: for each neighbour (and itself) the coordinator says sent its
   * input (`survivors`), the self-mask seed share; for each that shared keys
   * but sent no input (`dropped`), the mask-key share. Refuses a neighbour in
   * both lists, and fewer survivors than the threshold.
   */
  revealShares(survivors: ReadonlySet<string>, dropped: ReadonlySet<string>): RevealedShare[] {
    this.#expect("masked");
    for (const id of survivors) {
      if (dropped.has(id)) {
        throw new RangeError(`"${id}" cannot have both sent its input and dropped`);
      }
    }
    if (survivors.size < this.params.threshold) {
      throw new RangeError(
        `Cannot unmask: ${survivors.size} survivors are fewer than the threshold ${this.params.threshold}`,
      );
    }
    const revealed: RevealedShare[] = [];
    for (const [about, packed] of this.#received) {
      const [keyShare, seedShare] = unpack(packed);
      if (survivors.has(about)) {
        revealed.push({ from: this.id, about, kind: "self-mask seed", share: seedShare });
      } else if (dropped.has(about)) {
        revealed.push({ from: this.id, about, kind: "mask key", share: keyShare });
      }
    }
    this.#stage = "revealed";
    return revealed;
  }

  #expect(stage: Stage): void {
    if (this.#stage !== stage) {
      throw new Error(
        `Secure aggregation stage out of order: at "${this.#stage}", expected "${stage}"`,
      );
    }
  }
}

/** Two shares in one plaintext: the first's length (a byte), the first, the second. */
function pack(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + a.length + b.length);
  out[0] = a.length;
  out.set(a, 1);
  out.set(b, 1 + a.length);
  return out;
}

function unpack(packed: Uint8Array): [Uint8Array, Uint8Array] {
  const n = packed[0]!;
  return [packed.subarray(1, 1 + n), packed.subarray(1 + n)];
}
