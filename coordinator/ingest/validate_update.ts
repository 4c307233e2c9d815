/**
 * Checks an update's bytes against the model before anything is stored.
 * @module
 */
import type { WeightSpec } from "../../shared/model/model.ts";
import { readSafetensorsHeader, SafetensorsError } from "../../shared/wire/safetensors.ts";
import { CodecError, decodeUpdate } from "../../shared/wire/codec.ts";
import {
  formatZodError,
  type UpdateMetadata,
  UpdateMetadataSchema,
} from "../../shared/schemas/mod.ts";
import { ApiError } from "../http/errors.ts";
import { FoldKernel, foldKernelsAvailable } from "../aggregate/fold/fold_kernels.ts";

/** The SIMD kernel that checks values (no accumulators), where it runs. */
let checker: FoldKernel | null | undefined;
function valueChecker(): FoldKernel | null {
  if (checker === undefined) checker = foldKernelsAvailable() ? new FoldKernel() : null;
  return checker;
}

/** An update that passed every check. */
export interface ValidUpdate {
  /** Its parsed metadata. */
  metadata: UpdateMetadata;
  /** The delta of each trainable weight, in the model's order. */
  tensors: Float32Array[];
  /** Its size on the wire. */
  bytes: number;
  /** Its L2 norm as sent (before any clipping). */
  norm: number;
  /** Whether it was scaled down to the norm bound. */
  clipped: boolean;
}

/** Options of {@linkcode validateUpdate}. */
export interface ValidateUpdateOptions {
  /** Largest L2 norm of the update; null or absent for no bound. */
  maxNorm?: number | null;
  /** `reject` (400) an update over the bound, or `clip` it to the bound. @default "reject" */
  overNorm?: "reject" | "clip";
  /** The codec the task announced; an update in another is refused. @default "f32" */
  codec?: "f32" | "f16" | "int8" | "topk";
  /** Most examples an update may claim (times `devices` for an edge's update). @default no bound */
  maxExamples?: number;
}

function invalid(message: string): ApiError {
  return new ApiError(400, "invalid_update", `Cannot accept update: ${message}`);
}

/**
 * Reads an update's header and metadata only (cheap), so that staleness can be
 * decided before the tensors are decoded.
 *
 * @example
 * ```ts
 * import { encodeSafetensors } from "../../shared/wire/safetensors.ts";
 * import { readUpdateMetadata } from "./validate_update.ts";
 * import assert from "node:assert/strict";
 * const bytes = encodeSafetensors({}, { round: "1", baseVersion: "0", numLabeled: "5", numUnlabeled: "0" });
 * assert.equal(readUpdateMetadata(bytes).numLabeled, 5);
 * ```
 */
export function readUpdateMetadata(bytes: Uint8Array): UpdateMetadata {
  let metadata: Record<string, string>;
  try {
    metadata = readSafetensorsHeader(bytes).metadata;
  } catch (error) {
    if (error instanceof SafetensorsError) throw invalid(error.message);
    throw error;
  }
  const parsed = UpdateMetadataSchema.safeParse(metadata);
  if (!parsed.success) throw invalid(`metadata: ${formatZodError(parsed.error)}`);
  return parsed.data;
}

/**
 * Decodes an update and checks that it holds exactly the given weights, with
 * their shapes, as F32, and only finite values.
 *
 * @example
 * ```ts
 * import { encodeSafetensors } from "../../shared/wire/safetensors.ts";
 * import { validateUpdate } from "./validate_update.ts";
 * import assert from "node:assert/strict";
 * const bytes = encodeSafetensors({ w: { shape: [2], data: Float32Array.of(1, 2) } },
 *   { round: "1", baseVersion: "0", numLabeled: "5", numUnlabeled: "0" });
 * assert.equal(validateUpdate(bytes, [{ name: "w", shape: [2] }]).tensors.length, 1);
 * ```
 */
export function validateUpdate(
  bytes: Uint8Array,
  weights: readonly WeightSpec[],
  options: ValidateUpdateOptions = {},
): ValidUpdate {
  const metadata = readUpdateMetadata(bytes);
  if (options.maxExamples !== undefined) {
    const claimed = metadata.numLabeled + metadata.numUnlabeled;
    const bound = options.maxExamples * (metadata.devices ?? 1);
    if (claimed > bound) {
      throw invalid(
        `it claims ${claimed} examples, more than the task's bound updates.maxExamples = ${options.maxExamples}${
          metadata.devices ? ` times its ${metadata.devices} devices` : ""
        }`,
      );
    }
  }
  const sent = readSafetensorsHeader(bytes).metadata.codec ?? "f32";
  const codec = options.codec ?? "f32";
  if (sent !== codec) {
    throw invalid(`the task takes "${codec}" updates, this one is "${String(sent).slice(0, 40)}"`);
  }
  let decoded;
  try {
    // The bytes are the request's own: aligned f32 tensors are read in place.
    decoded = decodeUpdate(bytes, weights, { copy: false });
  } catch (error) {
    if (error instanceof SafetensorsError || error instanceof CodecError) {
      throw invalid(error.message);
    }
    throw error;
  }
  // One pass over the values: each must be finite, and they add to the norm
  // (in the SIMD kernel where it runs; the loop below is its reference).
  let squares = 0;
  const kernel = valueChecker();
  const tensors = weights.map(({ name }, w) => {
    const data = decoded.tensors[w]!;
    if (kernel) {
      const { firstBad, squares: sum } = kernel.check(data);
      if (firstBad >= 0) {
        throw invalid(`tensor "${name}" holds "${data[firstBad]}" at index ${firstBad}`);
      }
      squares += sum;
      return data;
    }
    for (let i = 0; i < data.length; i++) {
      const value = data[i]!;
      if (!Number.isFinite(value)) {
        throw invalid(`tensor "${name}" holds "${value}" at index ${i}`);
      }
      squares += value * value;
    }
    return data;
  });
  const norm = Math.sqrt(squares);
  const { maxNorm = null, overNorm = "reject" } = options;
  const over = maxNorm !== null && norm > maxNorm;
  if (over && overNorm === "reject") {
    throw invalid(`its L2 norm ${norm.toPrecision(6)} exceeds the bound ${maxNorm}`);
  }
  if (over) {
    const factor = maxNorm / norm;
    for (const data of tensors) for (let i = 0; i < data.length; i++) data[i]! *= factor;
  }
  return { metadata, tensors, bytes: bytes.byteLength, norm, clipped: over };
}
