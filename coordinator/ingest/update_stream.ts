/**
 * Checking an f32 update while its bytes stream in, chunk by chunk: the
 * safetensors header first (names, shapes and dtypes against the model,
 * the metadata), then every value (finite, and its square to the norm, in
 * the SIMD kernel), and the SHA-256 of the whole. Memory is the header and
 * a few bytes, whatever the update's size; the bytes themselves go to the
 * spool as they come (spool.ts), and the fold reads them back from there.
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import type { WeightSpec } from "../../shared/model/model.ts";
import { readSafetensorsHeader, SafetensorsError } from "../../shared/wire/safetensors.ts";
import type { UpdateMetadata } from "../../shared/schemas/mod.ts";
import { ApiError } from "../http/errors.ts";
import { FoldKernel } from "../aggregate/fold/fold_kernels.ts";
import { readUpdateMetadata, type ValidateUpdateOptions } from "./validate_update.ts";

/** The largest header a streamed update may have. */
const MAX_HEADER_BYTES = 1024 * 1024;

/** Where one tensor's values are in the update's bytes (absolute offsets). */
export interface TensorRegion {
  /** Its index among the model's trainable weights. */
  tensor: number;
  begin: number;
  end: number;
}

/** A streamed update that passed every check. */
export interface StreamedUpdate {
  metadata: UpdateMetadata;
  /** SHA-256 of all its bytes, hex. */
  digest: string;
  /** Its size on the wire. */
  bytes: number;
  /** Its L2 norm as sent. */
  norm: number;
  /** What its values are multiplied by when folded: below 1 when clipped to the norm bound. */
  factor: number;
  /** Where each trainable weight's values are, in the model's order. */
  regions: TensorRegion[];
}

let checker: FoldKernel | undefined;

function invalid(message: string): ApiError {
  return new ApiError(400, "invalid_update", `Cannot accept update: ${message}`);
}

/**
 * Checks one update as it streams: {@linkcode push} each chunk (it throws
 * the refusal, a 400, at the first thing wrong), then {@linkcode finish}.
 * The same checks as validateUpdate for the f32 codec, with the same
 * messages where they can be told this early.
 *
 * @example
 * ```ts
 * import { encodeSafetensors } from "../../shared/wire/safetensors.ts";
 * import { UpdateStreamCheck } from "./update_stream.ts";
 * import assert from "node:assert/strict";
 * const bytes = encodeSafetensors({ w: { shape: [2], data: Float32Array.of(3, 4) } }, {
 *   round: "1", baseVersion: "0", numLabeled: "1", numUnlabeled: "0",
 * });
 * const check = new UpdateStreamCheck([{ name: "w", shape: [2] }]);
 * check.push(bytes.subarray(0, 5));
 * check.push(bytes.subarray(5));
 * assert.equal(check.finish().norm, 5);
 * ```
 */
export class UpdateStreamCheck {
  readonly #weights: readonly WeightSpec[];
  readonly #options: ValidateUpdateOptions;
  readonly #hash: Hash = createHash("sha256");
  /** The header's bytes while they arrive. */
  #head: Uint8Array | null = new Uint8Array(0);
  #metadata: UpdateMetadata | null = null;
  #regions: TensorRegion[] = [];
  /** Regions in the order of their bytes, and the one being read. */
  #order: TensorRegion[] = [];
  #at = 0;
  /** Bytes seen so far, and the whole length once the header told it. */
  #position = 0;
  #total = -1;
  /** A value's first bytes, when a chunk ends inside it. */
  #carry = new Uint8Array(4);
  #carried = 0;
  #squares = 0;

  constructor(weights: readonly WeightSpec[], options: ValidateUpdateOptions = {}) {
    if ((options.codec ?? "f32") !== "f32") {
      throw new RangeError(`Cannot stream "${options.codec}" updates: f32 only`);
    }
    this.#weights = weights;
    this.#options = options;
    checker ??= new FoldKernel();
  }

  /** Bytes taken so far. */
  get received(): number {
    return this.#position;
  }

  /** Takes the next chunk of the update; throws the refusal at the first thing wrong. */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.#hash.update(chunk);
    let rest = chunk;
    if (this.#head) {
      const used = this.#takeHeader(rest);
      rest = rest.subarray(used);
      this.#position += used;
      if (this.#head) return;
    }
    if (this.#position + rest.byteLength > this.#total) {
      throw invalid(
        `data buffer has "${
          this.#position + rest.byteLength - this.#total
        }" trailing bytes not covered by any tensor`,
      );
    }
    while (rest.byteLength > 0) {
      const region = this.#order[this.#at]!;
      const take = Math.min(rest.byteLength, region.end - this.#position);
      this.#values(region, rest.subarray(0, take));
      this.#position += take;
      rest = rest.subarray(take);
      if (this.#position === region.end) this.#at++;
    }
  }

  /** The checked update once every byte is in; throws if it ended early or breaks a bound. */
  finish(): StreamedUpdate {
    if (this.#head) {
      throw invalid(`the update ended after ${this.#position} bytes, inside its header`);
    }
    if (this.#position !== this.#total) {
      throw invalid(
        `tensors end at "${this.#total - this.#order[0]!.begin}", past the "${
          this.#position - this.#order[0]!.begin
        }"-byte data buffer`,
      );
    }
    const norm = Math.sqrt(this.#squares);
    const { maxNorm = null, overNorm = "reject" } = this.#options;
    const over = maxNorm !== null && norm > maxNorm;
    if (over && overNorm === "reject") {
      throw invalid(`its L2 norm ${norm.toPrecision(6)} exceeds the bound ${maxNorm}`);
    }
    return {
      metadata: this.#metadata!,
      digest: this.#hash.digest("hex"),
      bytes: this.#position,
      norm,
      factor: over ? maxNorm / norm : 1,
      regions: this.#regions,
    };
  }

  /** Gathers the header from the start of `chunk`; returns how many of its bytes it used. */
  #takeHeader(chunk: Uint8Array): number {
    const head = this.#head!;
    let need = 8;
    if (head.byteLength >= 8) {
      const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
      if (n === 0n) throw invalid("header length is 0");
      if (n > BigInt(MAX_HEADER_BYTES)) {
        throw invalid(`header length "${n}" exceeds the maximum of "${MAX_HEADER_BYTES}" bytes`);
      }
      need = 8 + Number(n);
    }
    const used = Math.min(chunk.byteLength, need - head.byteLength);
    const grown = new Uint8Array(head.byteLength + used);
    grown.set(head);
    grown.set(chunk.subarray(0, used), head.byteLength);
    this.#head = grown;
    if (grown.byteLength < need) return used;
    if (need === 8) return used + this.#takeHeader(chunk.subarray(used));
    this.#readHeader(grown);
    this.#head = null;
    return used;
  }

  #readHeader(head: Uint8Array): void {
    let header;
    try {
      header = readSafetensorsHeader(head, { maxHeaderBytes: MAX_HEADER_BYTES });
    } catch (error) {
      if (error instanceof SafetensorsError) throw invalid(error.message);
      throw error;
    }
    const metadata = readUpdateMetadata(head);
    const { maxExamples } = this.#options;
    if (maxExamples !== undefined) {
      const claimed = metadata.numLabeled + metadata.numUnlabeled;
      const bound = maxExamples * (metadata.devices ?? 1);
      if (claimed > bound) {
        throw invalid(
          `it claims ${claimed} examples, more than the task's bound updates.maxExamples = ${maxExamples}${
            metadata.devices ? ` times its ${metadata.devices} devices` : ""
          }`,
        );
      }
    }
    const sent = header.metadata.codec ?? "f32";
    if (sent !== "f32") {
      throw invalid(`the task takes "f32" updates, this one is "${String(sent).slice(0, 40)}"`);
    }
    const { entries, dataStart } = header;
    this.#regions = this.#weights.map(({ name, shape }, tensor) => {
      const entry = entries.get(name);
      if (!entry) throw invalid(`tensor "${name}" is missing`);
      if (entry.dtype !== "F32") {
        throw invalid(`tensor "${name}" has dtype "${entry.dtype}", expected "F32"`);
      }
      if (entry.shape.join() !== shape.join()) {
        throw invalid(`tensor "${name}" has shape [${entry.shape}], expected [${shape}]`);
      }
      const [begin, end] = entry.dataOffsets;
      return { tensor, begin: dataStart + begin, end: dataStart + end };
    });
    const known = new Set(this.#weights.map((w) => w.name));
    for (const name of entries.keys()) {
      if (!known.has(name)) {
        throw invalid(`tensor "${name}" is not a trainable weight of the model`);
      }
    }
    // The header has checked the regions are contiguous from the data's start.
    this.#order = [...this.#regions].sort((a, b) => a.begin - b.begin);
    this.#total = this.#order.at(-1)?.end ?? dataStart;
    this.#metadata = metadata;
  }

  /** Checks a piece of one region's values (it may start or end inside a value). */
  #values(region: TensorRegion, bytes: Uint8Array): void {
    let rest = bytes;
    if (this.#carried > 0) {
      const before = this.#carried;
      const take = Math.min(4 - before, rest.byteLength);
      this.#carry.set(rest.subarray(0, take), before);
      this.#carried += take;
      rest = rest.subarray(take);
      if (this.#carried < 4) return;
      this.#check(region, this.#carry, this.#position - before);
      this.#carried = 0;
    }
    const whole = rest.byteLength & ~3;
    if (whole > 0) {
      this.#check(
        region,
        rest.subarray(0, whole),
        this.#position + bytes.byteLength - rest.byteLength,
      );
    }
    const tail = rest.subarray(whole);
    this.#carry.set(tail);
    this.#carried = tail.byteLength;
  }

  /** `bytes` (whole values) start at absolute offset `at` inside `region`. */
  #check(region: TensorRegion, bytes: Uint8Array, at: number): void {
    const { firstBad, squares } = checker!.checkBytes(bytes);
    if (firstBad >= 0) {
      const value = new DataView(bytes.buffer, bytes.byteOffset + firstBad * 4, 4).getFloat32(
        0,
        true,
      );
      const index = (at - region.begin) / 4 + firstBad;
      throw invalid(
        `tensor "${this.#weights[region.tensor]!.name}" holds "${value}" at index ${
          Math.floor(index)
        }`,
      );
    }
    this.#squares += squares;
  }
}
