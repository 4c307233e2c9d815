/**
 * A secure round's events as state rows (see state_store.ts): JSON with bytes
 * as base64, and a masked input as a blob of its own.
 * @module
 */
import type { SecureEvent } from "../secure/secure_round.ts";
import { fromBase64, toBase64 } from "../../shared/secagg/wire.ts";

/** A secure round's event as a row: JSON with bytes as base64, a masked input as a blob. */
export function encodeSecureEvent(event: SecureEvent): { json: string; bytes: Uint8Array | null } {
  if (event.kind === "input") {
    const { input, ...rest } = event;
    return {
      json: JSON.stringify(rest),
      bytes: new Uint8Array(input.buffer, input.byteOffset, input.byteLength),
    };
  }
  return {
    json: JSON.stringify(event, (_, v) => (v instanceof Uint8Array ? { b64: toBase64(v) } : v)),
    bytes: null,
  };
}

export function decodeSecureEvent(json: string, bytes: Uint8Array | null): SecureEvent {
  const event = JSON.parse(
    json,
    (_, v) =>
      v && typeof v === "object" && typeof v.b64 === "string" && Object.keys(v).length === 1
        ? fromBase64(v.b64)
        : v,
  );
  if (event.kind === "input") {
    const copy = new Uint8Array(bytes!);
    return { ...event, input: new Uint32Array(copy.buffer, 0, copy.byteLength / 4) };
  }
  return event;
}
