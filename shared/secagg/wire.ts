/**
 * The secure-aggregation endpoints' bodies, as zod schemas (the API's source
 * of truth with `shared/schemas/mod.ts`; the OpenAPI document is generated from
 * them), and the base64 that carries keys and sealed shares in JSON.
 * @module
 */
import { z } from "zod";

const clientId = z.string().regex(
  /^[A-Za-z0-9._-]{1,64}$/,
  "clientId must be 1-64 of [A-Za-z0-9._-]",
);
/** Standard base64 (RFC 4648), at most `max` characters. */
const base64 = (max: number) =>
  z.string().max(max).regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64");

/** The stages of a secure round, in order; `failed` ends a round that cannot be unmasked. */
export const SECURE_STAGES = ["keys", "shares", "input", "unmask", "done", "failed"] as const;

/** A stage of a secure round. */
export type SecureStage = (typeof SECURE_STAGES)[number];

/** A client's two X25519 public keys. */
export const PublicKeysSchema = z.strictObject({
  id: clientId,
  /** 32 bytes: shares sealed to this client are encrypted under an agreement with it. */
  encryptionKey: base64(64),
  /** 32 bytes: the pairwise masks come from agreements with it. */
  maskKey: base64(64),
});

/** POST /v1/secagg/keys: stage 1, advertise keys. */
export const KeysRequestSchema = z.strictObject({
  round: z.int().min(1),
  clientId: clientId.optional(),
  encryptionKey: base64(64),
  maskKey: base64(64),
  /** What the client runs on, as in an update's metadata (shown in /v1/status). */
  backend: z.string().max(64).optional(),
  device: z.string().max(128).optional(),
  runtime: z.string().max(128).optional(),
  /** A sequence task: the hash of the vocabulary the client's rows were tokenized with. */
  vocabulary: z.string().regex(/^[0-9a-f]{64}$/).optional(),
});

/** POST /v1/secagg/shares: stage 2, the shares sealed to each neighbour. */
export const SharesRequestSchema = z.strictObject({
  round: z.int().min(1),
  clientId: clientId.optional(),
  shares: z.array(z.strictObject({ to: clientId, ciphertext: base64(1024) })).max(254),
});

/** POST /v1/secagg/reveal: stage 4, the shares the coordinator may have. */
export const RevealRequestSchema = z.strictObject({
  round: z.int().min(1),
  clientId: clientId.optional(),
  shares: z.array(z.strictObject({
    about: clientId,
    kind: z.enum(["self-mask seed", "mask key"]),
    share: base64(256),
  })).max(255),
});

/** The answer to each secure-aggregation POST. */
export const SecureAcceptedSchema = z.strictObject({
  accepted: z.literal(true),
  round: z.int(),
  stage: z.enum(SECURE_STAGES),
});

/** @see {@linkcode SecureAcceptedSchema} */
export type SecureAccepted = z.infer<typeof SecureAcceptedSchema>;

/**
 * GET /v1/secagg?clientId=: where the open round's protocol stands, and what
 * this client needs for its next step (its neighbours' keys, the shares sealed
 * to it, or who sent an input and who dropped among its neighbours).
 */
export const SecureStateSchema = z.strictObject({
  round: z.int(),
  stage: z.enum(SECURE_STAGES),
  /** When the stage's deadline passes (ISO time), or null while the first stage waits. */
  deadline: z.string().nullable(),
  /** Whether this client is in the stage's set (it advertised, shared, sent its input). */
  participant: z.boolean(),
  /** Whether this client has done its part of the stage. */
  done: z.boolean(),
  /** Why the round failed (stage `failed`). */
  reason: z.string().nullable(),
  /** Stage `shares`: the neighbours to share keys with. */
  neighbours: z.array(PublicKeysSchema).optional(),
  /** Stage `input`: the shares neighbours sealed to this client. */
  shares: z.array(z.strictObject({ from: clientId, ciphertext: base64(1024) })).optional(),
  /** Stage `unmask`: this client's neighbours (and itself) that sent their input, and that dropped. */
  survivors: z.array(clientId).optional(),
  dropped: z.array(clientId).optional(),
});

/** @see {@linkcode SecureStateSchema} */
export type SecureState = z.infer<typeof SecureStateSchema>;

/**
 * Bytes as standard base64.
 *
 * @example
 * ```ts
 * import { fromBase64, toBase64 } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.equal(toBase64(Uint8Array.of(1, 2, 255)), "AQL/");
 * assert.deepEqual(fromBase64("AQL/"), Uint8Array.of(1, 2, 255));
 * ```
 */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Standard base64 as bytes; throws a RangeError for anything else. */
export function fromBase64(text: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new RangeError("not base64");
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
