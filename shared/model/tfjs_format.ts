/**
 * The tfjs Layers model format (model.json plus one weights file), so that
 * `tf.loadLayersModel(url)` loads a global model or a checkpoint.
 * @module
 */
import type { Float32Tensor } from "../wire/safetensors.ts";
import { elementCount } from "../shape.ts";

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

/** The parts of a model.json that {@linkcode readTfjsWeights} reads. */
export interface TfjsModelJson {
  /** The Layers topology. */
  modelTopology?: Record<string, unknown>;
  /** Groups of weight files and the weights they hold, in order. */
  weightsManifest?: {
    paths: string[];
    weights: { name: string; shape: number[]; dtype?: string; quantization?: unknown }[];
  }[];
}

/**
 * Splits the concatenated bytes of a model's weight files (in manifest order)
 * into named tensors. float32 and int32 weights are read (int32 converted);
 * quantized weights are refused.
 *
 * @example
 * ```ts
 * import { readTfjsWeights, toTfjsArtifacts } from "./tfjs_format.ts";
 * import assert from "node:assert/strict";
 * const { modelJson, weightsBin } = toTfjsArtifacts({}, new Map([["w", { shape: [2], data: Float32Array.of(1, 2) }]]));
 * assert.deepEqual([...readTfjsWeights(modelJson, weightsBin).get("w")!.data], [1, 2]);
 * ```
 */
export function readTfjsWeights(
  modelJson: TfjsModelJson,
  data: Uint8Array,
): Map<string, Float32Tensor> {
  const out = new Map<string, Float32Tensor>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let offset = 0;
  for (const group of modelJson.weightsManifest ?? []) {
    for (const spec of group.weights) {
      if (spec.quantization) {
        throw new TypeError(
          `Cannot read tfjs weights: "${spec.name}" is quantized, which is not supported`,
        );
      }
      const dtype = spec.dtype ?? "float32";
      if (dtype !== "float32" && dtype !== "int32") {
        throw new TypeError(`Cannot read tfjs weights: "${spec.name}" has dtype "${dtype}"`);
      }
      const size = elementCount(spec.shape);
      if (offset + size * 4 > data.byteLength) {
        throw new RangeError(
          `Cannot read tfjs weights: "${spec.name}" needs bytes up to ${
            offset + size * 4
          }, the weight files hold ${data.byteLength}`,
        );
      }
      const values = new Float32Array(size);
      for (let i = 0; i < size; i++) {
        values[i] = dtype === "float32"
          ? view.getFloat32(offset + 4 * i, true)
          : view.getInt32(offset + 4 * i, true);
      }
      out.set(spec.name, { shape: [...spec.shape], data: values });
      offset += size * 4;
    }
  }
  if (offset !== data.byteLength) {
    throw new RangeError(
      `Cannot read tfjs weights: the manifest describes ${offset} bytes, the weight files hold ${data.byteLength}`,
    );
  }
  return out;
}
