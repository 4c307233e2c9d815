/**
 * Secure aggregation's keys, from WebCrypto only: X25519 key pairs and their
 * agreement, HKDF-SHA-256 to derive the pairwise mask seeds and the keys that
 * encrypt shares, and AES-256-GCM for the shares a client sends its
 * neighbours through the coordinator (which cannot read them).
 * @module
 */

const X25519 = { name: "X25519" } as const;

/** A key pair for one purpose, with the public key as raw bytes for the wire. */
export interface AgreementKeys {
  privateKey: CryptoKey;
  /** The 32-byte public key. */
  publicKey: Uint8Array;
}

/**
 * A new X25519 key pair; the private key is extractable only when `extractable`
 * (a pairwise-mask key must be, so that it can be secret-shared).
 *
 * @example
 * ```ts
 * import { generateAgreementKeys } from "./keys.ts";
 * import assert from "node:assert/strict";
 * const keys = await generateAgreementKeys();
 * assert.ok(keys.publicKey.length === 32);
 * ```
 */
export async function generateAgreementKeys(extractable = false): Promise<AgreementKeys> {
  const pair = await crypto.subtle.generateKey(X25519, extractable, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, publicKey };
}

/** PKCS #8 wrapping of a raw 32-byte X25519 private key (RFC 8410). */
const PKCS8_X25519_PREFIX = Uint8Array.of(
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
);

/** Imports a raw 32-byte X25519 private key (e.g. one reconstructed from shares). */
export async function importPrivateKey(raw: Uint8Array, extractable = false): Promise<CryptoKey> {
  if (raw.length !== 32) {
    throw new RangeError(`An X25519 private key has 32 bytes, not ${raw.length}`);
  }
  const pkcs8 = new Uint8Array(48);
  pkcs8.set(PKCS8_X25519_PREFIX);
  pkcs8.set(raw, 16);
  return await crypto.subtle.importKey("pkcs8", pkcs8, X25519, extractable, ["deriveBits"]);
}

/** The raw 32 bytes of an extractable X25519 private key (to secret-share it). */
export async function exportPrivateKey(key: CryptoKey): Promise<Uint8Array> {
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
  return pkcs8.slice(pkcs8.length - 32);
}

/**
 * The X25519 shared secret of `privateKey` and a peer's raw `publicKey`,
 * stretched by HKDF-SHA-256 with `info` (which says what the key is for) into
 * 32 bytes. Both sides get the same bytes.
 *
 * @example
 * ```ts
 * import { agree, generateAgreementKeys } from "./keys.ts";
 * import assert from "node:assert/strict";
 * const [a, b] = [await generateAgreementKeys(), await generateAgreementKeys()];
 * const info = "mask round 1";
 * assert.deepEqual(await agree(a.privateKey, b.publicKey, info), await agree(b.privateKey, a.publicKey, info));
 * ```
 */
export async function agree(
  privateKey: CryptoKey,
  publicKey: Uint8Array,
  info: string,
): Promise<Uint8Array> {
  const shared = await sharedSecret(privateKey, publicKey);
  return await hkdf(shared, info, 32);
}

/** The raw X25519 shared secret of `privateKey` and a peer's raw `publicKey` (RFC 7748). */
export async function sharedSecret(
  privateKey: CryptoKey,
  publicKey: Uint8Array,
): Promise<Uint8Array> {
  const peer = await crypto.subtle.importKey(
    "raw",
    publicKey as Uint8Array<ArrayBuffer>,
    X25519,
    false,
    [],
  );
  return new Uint8Array(
    await crypto.subtle.deriveBits({ name: "X25519", public: peer }, privateKey, 256),
  );
}

/** HKDF-SHA-256 of `secret` with an empty salt and `info`, `bytes` long (RFC 5869). */
export async function hkdf(
  secret: Uint8Array,
  info: string | Uint8Array,
  bytes: number,
  salt: Uint8Array = new Uint8Array(0),
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    secret as Uint8Array<ArrayBuffer>,
    "HKDF",
    false,
    ["deriveBits"],
  );
  const infoBytes = typeof info === "string" ? new TextEncoder().encode(info) : info;
  const bits = await crypto.subtle.deriveBits(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: salt as Uint8Array<ArrayBuffer>,
      info: infoBytes as Uint8Array<ArrayBuffer>,
    },
    key,
    bytes * 8,
  );
  return new Uint8Array(bits);
}

/**
 * Encrypts `plaintext` with AES-256-GCM under a 32-byte `key`, bound to
 * `context` (the sender, recipient and round, as additional data): a fresh
 * 12-byte nonce followed by the ciphertext and its tag.
 *
 * @example
 * ```ts
 * import { open, seal } from "./keys.ts";
 * import assert from "node:assert/strict";
 * const key = new Uint8Array(32).fill(1);
 * const sealed = await seal(key, new TextEncoder().encode("share"), "a->b round 1");
 * assert.equal(new TextDecoder().decode(await open(key, sealed, "a->b round 1")), "share");
 * await assert.rejects(open(key, sealed, "a->c round 1"));
 * ```
 */
export async function seal(
  key: Uint8Array,
  plaintext: Uint8Array,
  context: string,
): Promise<Uint8Array> {
  const aes = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    "AES-GCM",
    false,
    [
      "encrypt",
    ],
  );
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: new TextEncoder().encode(context) },
      aes,
      plaintext as Uint8Array<ArrayBuffer>,
    ),
  );
  const out = new Uint8Array(12 + sealed.length);
  out.set(nonce);
  out.set(sealed, 12);
  return out;
}

/** Opens what {@linkcode seal} made; throws if it was changed, or the key or context differ. */
export async function open(
  key: Uint8Array,
  sealed: Uint8Array,
  context: string,
): Promise<Uint8Array> {
  if (sealed.length < 12 + 16) {
    throw new RangeError("Cannot open a ciphertext shorter than nonce and tag");
  }
  const aes = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    "AES-GCM",
    false,
    [
      "decrypt",
    ],
  );
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: sealed.subarray(0, 12) as Uint8Array<ArrayBuffer>,
          additionalData: new TextEncoder().encode(context),
        },
        aes,
        sealed.subarray(12) as Uint8Array<ArrayBuffer>,
      ),
    );
  } catch {
    throw new Error("Cannot open the share: it was changed, or it is not for this recipient");
  }
}
