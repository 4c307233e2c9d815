/**
 * The tfjs Layers model format (model.json plus one weights file), so that
 * `tf.loadLayersModel(url)` loads a global model or a checkpoint.
 * @module
 */
import type { Float32Tensor } from "./safetensors.ts";

/** A model.json and the bytes of the weights file it names. */
export interface TfjsArtifacts {
  /** The model.json document. */
  modelJson: {
    format: "layers-model";
    generatedBy: string;
    convertedBy: null;
    modelTopology: Record<string, unknown>;
    weightsManifest: {
      paths: string[];
      weights: { name: string; shape: number[]; dtype: "float32" }[];
    }[];
  };
  /** Little-endian float32 values of every weight, in manifest order. */
  weightsBin: Uint8Array;
}

/** Options of {@linkcode toTfjsArtifacts}. */
export interface ToTfjsArtifactsOptions {
  /** The weights file's path relative to model.json. @default "weights.bin" */
  weightsPath?: string;
}

/**
 * Packs a topology and named weights in the tfjs Layers format.
 *
 * @example
 * ```ts
 * import { toTfjsArtifacts } from "./tfjs_format.ts";
 * import assert from "node:assert/strict";
 * const { modelJson, weightsBin } = toTfjsArtifacts({}, new Map([["w", { shape: [2], data: Float32Array.of(1, 2) }]]));
 * assert.equal(weightsBin.byteLength, 8);
 * assert.equal(modelJson.weightsManifest[0]?.paths[0], "weights.bin");
 * ```
 */
export function toTfjsArtifacts(
  topology: Record<string, unknown>,
  weights: Map<string, Float32Tensor>,
  options: ToTfjsArtifactsOptions = {},
): TfjsArtifacts {
  const total = [...weights.values()].reduce((n, t) => n + t.data.length, 0);
  const values = new Float32Array(total);
  let offset = 0;
  for (const tensor of weights.values()) {
    values.set(tensor.data, offset);
    offset += tensor.data.length;
  }
  return {
    modelJson: {
      format: "layers-model",
      generatedBy: "rdrop-federated",
      convertedBy: null,
      modelTopology: topology,
      weightsManifest: [{
        paths: [options.weightsPath ?? "weights.bin"],
        weights: [...weights].map(([name, t]) => ({ name, shape: t.shape, dtype: "float32" })),
      }],
    },
    weightsBin: new Uint8Array(values.buffer),
  };
}
