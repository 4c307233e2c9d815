// Secure aggregation's building blocks on plain arrays, against published
// vectors where they exist: AES-256-CTR (NIST SP 800-38A, F.5.5), X25519
// (RFC 7748, section 6.1), HKDF-SHA-256 (RFC 5869, test case 1); t-of-n
// sharing; sealed shares; quantization; and masked inputs that sum to the
// sum of the quantized inputs exactly, for n = 2..20 clients on random
// neighbour graphs, with dropped clients' masks removed from their shares.
import assert from "node:assert/strict";
import { seededRandom } from "../random.ts";
import {
  agree,
  exportPrivateKey,
  generateAgreementKeys,
  hkdf,
  importPrivateKey,
  open,
  seal,
  sharedSecret,
} from "./keys.ts";
import { expandMask, keystream } from "./mask.ts";
import { maskInput, pairwiseSign, type SignedSeed, unmaskSum } from "./masking.ts";
import { addModular, dequantizeSum, levelsFor, quantizationStep, quantize } from "./quantize.ts";
import { combineShares, splitSecret } from "./shares.ts";
import { toHex } from "../hex.ts";

const hex = (text: string) => Uint8Array.from(text.match(/../g)!.map((b) => parseInt(b, 16)));

Deno.test("AES-256-CTR keystream: NIST SP 800-38A F.5.5 (CTR-AES256.Encrypt), blocks 1-4", async () => {
  const key = await crypto.subtle.importKey(
    "raw",
    hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"),
    "AES-CTR",
    false,
    ["encrypt"],
  );
  const plaintext = hex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51" +
      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
  );
  const expected = "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5" +
    "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6";
  const stream = new Uint8Array(await keystream(key, hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"), 64));
  assert.equal(toHex(stream.map((b, i) => b ^ plaintext[i]!)), expected);
});

Deno.test("X25519: RFC 7748 section 6.1, both sides derive the same secret", async () => {
  const alice = await importPrivateKey(
    hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    true,
  );
  const bob = await importPrivateKey(
    hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
  );
  const alicePublic = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  const bobPublic = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  const shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  assert.equal(toHex(await sharedSecret(alice, bobPublic)), shared);
  assert.equal(toHex(await sharedSecret(bob, alicePublic)), shared);
  // A private key survives export and import (as when rebuilt from shares).
  assert.equal(
    toHex(await exportPrivateKey(alice)),
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
  );
  // Fresh pairs agree on the HKDF-stretched key, which depends on its purpose.
  const [a, b] = [await generateAgreementKeys(), await generateAgreementKeys()];
  assert.deepEqual(
    await agree(a.privateKey, b.publicKey, "mask"),
    await agree(b.privateKey, a.publicKey, "mask"),
  );
  assert.notDeepEqual(
    await agree(a.privateKey, b.publicKey, "mask"),
    await agree(a.privateKey, b.publicKey, "share"),
  );
});

Deno.test("HKDF-SHA-256: RFC 5869 test case 1", async () => {
  const okm = await hkdf(
    hex("0b".repeat(22)),
    hex("f0f1f2f3f4f5f6f7f8f9"),
    42,
    hex("000102030405060708090a0b0c"),
  );
  assert.equal(
    toHex(okm),
    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
  );
});

Deno.test("t-of-n sharing: any t shares rebuild the secret, t - 1 do not", async () => {
  const random = seededRandom(7);
  for (const [n, t] of [[3, 2], [5, 3], [10, 6], [20, 11]] as const) {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const shares = await splitSecret(secret, { shares: n, threshold: t });
    for (let trial = 0; trial < 5; trial++) {
      const picked = [...shares].sort(() => random() - 0.5);
      assert.deepEqual(await combineShares(picked.slice(0, t)), secret, `${t} of ${n}`);
      if (t - 1 >= 2) {
        assert.notDeepEqual(
          await combineShares(picked.slice(0, t - 1)),
          secret,
          `${t - 1} of ${n}`,
        );
      } else await assert.rejects(combineShares(picked.slice(0, 1)), /fewer than 2/);
    }
  }
  await assert.rejects(
    splitSecret(new Uint8Array(32), { shares: 3, threshold: 4 }),
    /threshold <= shares/,
  );
});

Deno.test("a sealed share opens only unchanged, under its key and for its context", async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const share = crypto.getRandomValues(new Uint8Array(33));
  const sealed = await seal(key, share, "a->b round 3");
  assert.deepEqual(await open(key, sealed, "a->b round 3"), share);
  const tampered = Uint8Array.from(sealed);
  tampered[20] = tampered[20]! ^ 1;
  await assert.rejects(open(key, tampered, "a->b round 3"), /changed/);
  await assert.rejects(open(key, sealed, "a->b round 4"), /changed/);
  await assert.rejects(open(crypto.getRandomValues(new Uint8Array(32)), sealed, "a->b round 3"));
});

Deno.test("quantization: within one step of the clipped value, unbiased, and the levels fit the clients", () => {
  const options = { clipRange: 0.5, levels: levelsFor({ bits: 32, clients: 10 }), bits: 32 };
  const random = seededRandom(3);
  const values = Float32Array.from({ length: 10_000 }, () => (random() - 0.5) * 1.2);
  const q = quantize(values, options, random);
  const back = dequantizeSum(q, 1, options);
  const step = quantizationStep(options);
  let bias = 0;
  for (let i = 0; i < values.length; i++) {
    const clipped = Math.min(0.5, Math.max(-0.5, values[i]!));
    assert.ok(Math.abs(back[i]! - clipped) <= step, `value ${i}`);
    bias += back[i]! - clipped;
  }
  assert.ok(Math.abs(bias / values.length) < step / 10, `mean error ${bias / values.length}`);
  assert.throws(() => levelsFor({ bits: 16, clients: 1000 }), /raise bits to 18/);
});

Deno.test("masked inputs sum to the sum of the quantized inputs mod 2^bits, for n = 2..20 on random graphs, with dropouts", async () => {
  const random = seededRandom(11);
  const length = 257;
  for (const bits of [32, 24]) {
    for (let n = 2; n <= 20; n++) {
      const ids = Array.from({ length: n }, (_, i) => `c${String(i).padStart(2, "0")}`);
      // A random graph: each pair are neighbours with probability 0.6 (always for n <= 3).
      const neighbours = new Map(ids.map((id) => [id, new Set<string>()]));
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          if (n <= 3 || random() < 0.6) {
            neighbours.get(ids[i]!)!.add(ids[j]!);
            neighbours.get(ids[j]!)!.add(ids[i]!);
          }
        }
      }
      const keys = new Map(
        await Promise.all(ids.map(async (id) => [id, await generateAgreementKeys(true)] as const)),
      );
      const selfSeeds = new Map(ids.map((id) => [id, crypto.getRandomValues(new Uint8Array(32))]));
      const inputs = new Map(
        ids.map((id) => [id, Uint32Array.from({ length }, () => Math.floor(random() * 2 ** bits))]),
      );
      // Some clients drop after sharing their keys, before sending their masked input.
      const dropped = new Set(n >= 4 ? ids.filter(() => random() < 0.25).slice(0, n - 2) : []);
      const survivors = ids.filter((id) => !dropped.has(id));
      const pairSeed = async (me: string, other: string) =>
        await agree(keys.get(me)!.privateKey, keys.get(other)!.publicKey, "mask");
      const maskedSum = new Uint32Array(length);
      const expected = new Uint32Array(length);
      for (const id of survivors) {
        const pairwise: SignedSeed[] = [];
        for (const other of neighbours.get(id)!) {
          pairwise.push({ seed: await pairSeed(id, other), sign: pairwiseSign(id, other) });
        }
        const masked = await maskInput(inputs.get(id)!, {
          bits,
          selfSeed: selfSeeds.get(id)!,
          pairwise,
        });
        addModular(maskedSum, masked, 1, bits);
        addModular(expected, inputs.get(id)!, 1, bits);
      }
      // The coordinator rebuilds each dropped client's private key and recomputes
      // the masks its surviving neighbours added towards it.
      const residual: SignedSeed[] = [];
      for (const gone of dropped) {
        const rebuilt = await importPrivateKey(await exportPrivateKey(keys.get(gone)!.privateKey));
        for (const other of neighbours.get(gone)!) {
          if (dropped.has(other)) continue;
          residual.push({
            seed: await agree(rebuilt, keys.get(other)!.publicKey, "mask"),
            sign: pairwiseSign(other, gone),
          });
        }
      }
      const sum = await unmaskSum(maskedSum, {
        bits,
        selfSeeds: survivors.map((id) => selfSeeds.get(id)!),
        residual,
      });
      assert.deepEqual(sum, expected, `n = ${n}, bits ${bits}, dropped ${[...dropped]}`);
      if (survivors.length >= 2) assert.notDeepEqual(maskedSum, expected);
    }
  }
});

Deno.test("a mask is the same for the same seed, differs across seeds, and covers [0, 2^bits)", async () => {
  const seed = new Uint8Array(32).fill(9);
  const a = await expandMask(seed, 100_000, 16);
  assert.deepEqual(a, await expandMask(seed, 100_000, 16));
  assert.notDeepEqual(a, await expandMask(new Uint8Array(32).fill(8), 100_000, 16));
  assert.ok(a.every((v) => v < 2 ** 16));
  // Roughly uniform: each of 16 buckets within 5% of its expected count.
  const buckets = new Array(16).fill(0);
  for (const v of a) buckets[v >> 12]++;
  for (const count of buckets) assert.ok(Math.abs(count - 6250) < 6250 * 0.05, `${buckets}`);
  await assert.rejects(expandMask(new Uint8Array(16), 4, 32), /32/);
});
