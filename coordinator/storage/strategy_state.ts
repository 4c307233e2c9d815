/**
 * The strategy's server state as safetensors, for the durable store.
 * @module
 */
import {
  decodeSafetensors,
  encodeSafetensors,
  type Float32Tensor,
} from "../../shared/wire/safetensors.ts";

/** A strategy's state as safetensors: tensor i of `key` is named `key/i`. */
export function encodeStrategyState(state: Record<string, Float32Array[]>): Uint8Array {
  const tensors = new Map<string, Float32Tensor>();
  for (const [key, list] of Object.entries(state)) {
    list.forEach((data, i) => tensors.set(`${key}/${i}`, { shape: [data.length], data }));
  }
  return encodeSafetensors(tensors);
}

/** The state {@linkcode encodeStrategyState} wrote. */
export function decodeStrategyState(bytes: Uint8Array): Record<string, Float32Array[]> {
  const state: Record<string, Float32Array[]> = {};
  for (const [name, { data }] of decodeSafetensors(bytes).tensors) {
    const [key, index] = name.split("/") as [string, string];
    (state[key] ??= [])[Number(index)] = data;
  }
  return state;
}
