/**
 * Update codecs: how a client's delta travels inside safetensors.
 *
 * The `__metadata__` field `codec` names the codec (absent means `f32`). For
 * a trainable weight `W` of n elements:
 *
 * - `f32`: `W` as F32 [shape].
 * - `f16`: `W` as F16 [shape] (IEEE half).
 * - `int8`: `W` as I8 [shape] plus `W#scale` and `W#zero_point`, F32 [chunks];
 *   element i of chunk c (`chunk` elements a chunk, metadata `chunk`; 0 means
 *   one chunk per tensor) is `scale[c] * (q[i] - zero_point[c])`.
 * - `topk`: the k largest values by magnitude: `W#indices` as I32 [k]
 *   (strictly increasing) and `W#values` [k] in the dense codec named by the
 *   metadata `values` (f32, f16 or int8, the last with `W#values#scale` and
 *   `W#values#zero_point`); every other element is 0.
 *
 * Any safetensors reader can open these files; the rules above turn them
 * back into dense float32 deltas.
 * @module
 */
import {
  encodeSafetensorsRaw,
  type Float32Tensor,
  type RawTensor,
  readSafetensorsHeader,
  SafetensorsError,
} from "./safetensors.ts";
import type { UpdateCodec } from "../schemas/mod.ts";
import {
  CodecError,
  decodeHalf,
  dequantizeInt8,
  encodeHalf,
  quantizeInt8,
  topKIndices,
} from "./numeric.ts";
import { elementCount } from "../shape.ts";

export * from "./numeric.ts";

const fail = (message: string): never => {
  throw new CodecError(message);
};

/** How many elements top-k keeps of a tensor of `size`. */
export function topKCount(codec: UpdateCodec, size: number): number {
  const k = codec.count ?? Math.round((codec.fraction ?? 0.01) * size);
  return Math.min(size, Math.max(1, k));
}

function denseParts(
  name: string,
  values: Float32Array,
  shape: number[],
  codec: UpdateCodec["values"] | "f32",
  chunk: number,
): [string, RawTensor][] {
  if (codec === "f32") return [[name, { dtype: "F32", shape, data: values }]];
  if (codec === "f16") return [[name, { dtype: "F16", shape, data: encodeHalf(values) }]];
  const { q, scale, zeroPoint } = quantizeInt8(values, chunk);
  return [
    [name, { dtype: "I8", shape, data: q }],
    [`${name}#scale`, { dtype: "F32", shape: [scale.length], data: scale }],
    [`${name}#zero_point`, { dtype: "F32", shape: [zeroPoint.length], data: zeroPoint }],
  ];
}

/**
 * A client's memory of what top-k (and quantization) did not send: added to
 * the next delta before it is encoded (error feedback).
 */
export class ErrorFeedback {
  #residual = new Map<string, Float32Array>();

  /** The residual of `name` (zeros before the first update). */
  residual(name: string, size: number): Float32Array {
    let r = this.#residual.get(name);
    if (!r || r.length !== size) {
      r = new Float32Array(size);
      this.#residual.set(name, r);
    }
    return r;
  }
}

/**
 * Encodes a delta with `codec` as safetensors bytes. With `feedback`, the
 * residual of earlier updates is added first and what this update does not
 * carry (values dropped by top-k, rounding of f16 and int8) becomes the new
 * residual, so that over many updates the sum of what was sent plus the
 * residual equals the sum of the true deltas.
 *
 * @example
 * ```ts
 * import { decodeUpdate, encodeUpdate } from "./codec.ts";
 * import assert from "node:assert/strict";
 * const delta = new Map([["w", { shape: [4], data: Float32Array.of(0.1, -3, 0.2, 2) }]]);
 * const codec = { kind: "topk", count: 2, values: "f32", chunk: 4096 } as const;
 * const bytes = encodeUpdate(delta, codec, { round: "1" });
 * const { tensors } = decodeUpdate(bytes, [{ name: "w", shape: [4] }]);
 * assert.deepEqual([...tensors[0]!], [0, -3, 0, 2]);
 * ```
 */
export function encodeUpdate(
  delta: Map<string, Float32Tensor>,
  codec: UpdateCodec,
  metadata: Record<string, string>,
  feedback?: ErrorFeedback,
): Uint8Array {
  const parts: [string, RawTensor][] = [];
  const meta: Record<string, string> = { ...metadata };
  if (codec.kind !== "f32") meta.codec = codec.kind;
  if (codec.kind === "int8" || (codec.kind === "topk" && codec.values === "int8")) {
    meta.chunk = String(codec.chunk);
  }
  if (codec.kind === "topk") meta.values = codec.values;
  for (const [name, { shape, data }] of delta) {
    let values = data;
    let residual: Float32Array | null = null;
    if (feedback) {
      residual = feedback.residual(name, data.length);
      values = new Float32Array(data.length);
      for (let i = 0; i < data.length; i++) values[i] = data[i]! + residual[i]!;
    }
    if (codec.kind === "topk") {
      const indices = topKIndices(values, topKCount(codec, values.length));
      const kept = new Float32Array(indices.length);
      for (let j = 0; j < indices.length; j++) kept[j] = values[indices[j]!]!;
      parts.push([`${name}#indices`, { dtype: "I32", shape: [indices.length], data: indices }]);
      const valueParts = denseParts(
        `${name}#values`,
        kept,
        [kept.length],
        codec.values,
        codec.chunk,
      );
      parts.push(...valueParts);
      if (residual) {
        const sent = decodeDense(valueParts, codec.values, codec.chunk);
        residual.set(values);
        for (let j = 0; j < indices.length; j++) residual[indices[j]!]! -= sent[j]!;
      }
    } else {
      const dense = denseParts(name, values, shape, codec.kind, codec.chunk);
      parts.push(...dense);
      if (residual) {
        const sent = decodeDense(dense, codec.kind, codec.chunk);
        for (let i = 0; i < values.length; i++) residual[i] = values[i]! - sent[i]!;
      }
    }
  }
  return encodeSafetensorsRaw(parts, meta);
}

/** The float32 values of parts made by `denseParts` (the client's own view of what it sent). */
function decodeDense(parts: [string, RawTensor][], kind: string, chunk: number): Float32Array {
  const main = parts[0]![1].data;
  if (kind === "f32") return main as Float32Array;
  if (kind === "f16") return decodeHalf(main as Uint16Array);
  return dequantizeInt8(
    main as Int8Array,
    parts[1]![1].data as Float32Array,
    parts[2]![1].data as Float32Array,
    chunk,
  );
}

/** A decoded update: dense float32 deltas in the order of `weights`, and the metadata. */
export interface DecodedUpdate {
  tensors: Float32Array[];
  metadata: Record<string, string>;
  /** The codec it came in. */
  codec: UpdateCodec["kind"];
}

/**
 * Decodes an update in any codec into dense float32 deltas for `weights`
 * (name and shape each), checking every part strictly: dtypes, shapes,
 * indices in range and strictly increasing, finite positive scales, integer
 * zero points in [-128, 127], no missing or extra tensor. Throws
 * {@linkcode CodecError} (or SafetensorsError for a malformed container).
 */
export function decodeUpdate(
  bytes: Uint8Array,
  weights: readonly { name: string; shape: readonly number[] }[],
  options: { copy?: boolean } = {},
): DecodedUpdate {
  // Without copies, aligned F32 tensors are views on `bytes` (which must then stay unshared).
  const { copy: copies = true } = options;
  const { entries, metadata, dataStart } = readSafetensorsHeader(bytes);
  const dataLength = bytes.length - dataStart;
  let covered = 0;
  for (const { dataOffsets: [, end] } of entries.values()) covered = Math.max(covered, end);
  if (covered > dataLength) {
    throw new SafetensorsError(
      `tensors end at "${covered}", past the "${dataLength}"-byte data buffer`,
    );
  }
  if (covered !== dataLength) {
    throw new SafetensorsError(
      `data buffer has "${dataLength - covered}" trailing bytes not covered by any tensor`,
    );
  }
  const kind = (metadata.codec ?? "f32") as UpdateCodec["kind"];
  if (!["f32", "f16", "int8", "topk"].includes(kind)) {
    fail(`unknown codec "${String(metadata.codec).slice(0, 40)}" (f32, f16, int8 or topk)`);
  }
  const chunk = kind === "int8" || (kind === "topk" && metadata.values === "int8")
    ? parseChunk(metadata.chunk)
    : 0;
  const valuesKind = kind === "topk" ? metadata.values : undefined;
  if (kind === "topk" && !["f32", "f16", "int8"].includes(String(valuesKind))) {
    fail(
      `topk needs metadata "values" of f32, f16 or int8, got "${String(valuesKind).slice(0, 40)}"`,
    );
  }
  const used = new Set<string>();
  const read = (name: string, dtype: string, length?: number): ArrayBufferView => {
    const entry = entries.get(name);
    if (!entry) fail(`tensor "${name}" is missing`);
    if (entry!.dtype !== dtype) {
      fail(`tensor "${name}" has dtype "${entry!.dtype}", expected "${dtype}"`);
    }
    const [begin, end] = entry!.dataOffsets;
    const at = bytes.byteOffset + dataStart + begin;
    if (dtype === "F32" && !copies && at % 4 === 0) {
      const view = new Float32Array(bytes.buffer, at, (end - begin) / 4);
      if (length !== undefined && view.length !== length) {
        fail(`tensor "${name}" has ${view.length} elements, expected ${length}`);
      }
      used.add(name);
      return view;
    }
    const copy = bytes.slice(dataStart + begin, dataStart + end).buffer;
    const array = dtype === "F32"
      ? new Float32Array(copy)
      : dtype === "F16"
      ? new Uint16Array(copy)
      : dtype === "I8"
      ? new Int8Array(copy)
      : new Int32Array(copy);
    if (length !== undefined && (array as Float32Array).length !== length) {
      fail(`tensor "${name}" has ${(array as Float32Array).length} elements, expected ${length}`);
    }
    used.add(name);
    return array;
  };
  const shapeOf = (name: string) => entries.get(name)?.shape;
  const dense = (name: string, how: string, n: number, shape?: readonly number[]): Float32Array => {
    if (shape && shapeOf(name) && shapeOf(name)!.join() !== shape.join()) {
      fail(`tensor "${name}" has shape [${shapeOf(name)}], expected [${shape}]`);
    }
    if (how === "f32") return read(name, "F32", n) as Float32Array;
    if (how === "f16") return decodeHalf(read(name, "F16", n) as Uint16Array);
    const q = read(name, "I8", n) as Int8Array;
    const chunks = Math.max(1, Math.ceil(n / (chunk > 0 ? chunk : Math.max(1, n))));
    const scale = read(`${name}#scale`, "F32", chunks) as Float32Array;
    const zeroPoint = read(`${name}#zero_point`, "F32", chunks) as Float32Array;
    for (let c = 0; c < chunks; c++) {
      if (!(Number.isFinite(scale[c]!) && scale[c]! > 0)) {
        fail(`tensor "${name}#scale" holds "${scale[c]}" at ${c}: a scale is finite and positive`);
      }
      const zp = zeroPoint[c]!;
      if (!(Number.isInteger(zp) && zp >= -128 && zp <= 127)) {
        fail(`tensor "${name}#zero_point" holds "${zp}" at ${c}: an integer in [-128, 127]`);
      }
    }
    return dequantizeInt8(q, scale, zeroPoint, chunk);
  };
  const tensors = weights.map(({ name, shape }) => {
    const n = elementCount(shape);
    if (kind !== "topk") return dense(name, kind, n, shape);
    const indices = read(`${name}#indices`, "I32") as Int32Array;
    if (indices.length > n) {
      fail(`tensor "${name}#indices" has ${indices.length} entries for ${n} elements`);
    }
    const values = dense(`${name}#values`, valuesKind!, indices.length);
    const out = new Float32Array(n);
    let previous = -1;
    for (let j = 0; j < indices.length; j++) {
      const index = indices[j]!;
      if (index < 0 || index >= n) {
        fail(`tensor "${name}#indices" holds ${index} at ${j}, outside [0, ${n})`);
      }
      if (index <= previous) {
        fail(
          index === previous
            ? `tensor "${name}#indices" repeats index ${index} at ${j}`
            : `tensor "${name}#indices" is not increasing at ${j}`,
        );
      }
      previous = index;
      out[index] = values[j]!;
    }
    return out;
  });
  for (const name of entries.keys()) {
    if (!used.has(name)) {
      fail(
        kind === "f32"
          ? `tensor "${name}" is not a trainable weight of the model`
          : `tensor "${name}" is not part of a "${kind}" update of the model`,
      );
    }
  }
  return { tensors, metadata, codec: kind };
}

function parseChunk(value: string | undefined): number {
  const chunk = Number(value);
  if (value === undefined || !/^\d{1,9}$/.test(value) || !Number.isSafeInteger(chunk)) {
    fail(`metadata "chunk" must be a non-negative integer, got "${String(value).slice(0, 40)}"`);
  }
  return chunk;
}
