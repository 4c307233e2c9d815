/**
 * Pure encoder and strict decoder for the Hugging Face safetensors format:
 * an 8-byte little-endian header length N, N bytes of UTF-8 JSON header,
 * then the raw little-endian tensor data.
 *
 * @module
 */

import {
  type DecodeSafetensorsOptions,
  DTYPE_SIZES,
  type Float32Tensor,
  type Safetensors,
  SafetensorsError,
  type SafetensorsHeader,
  type SafetensorsHeaderEntry,
} from "./safetensors_types.ts";

export * from "./safetensors_types.ts";

if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) {
  throw new Error("safetensors.ts requires a little-endian host");
}

const METADATA_KEY = "__metadata__";
const ENTRY_FIELDS = ["dtype", "shape", "data_offsets"];

function fail(detail: string): never {
  throw new SafetensorsError(detail);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isIndex(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function product(shape: readonly number[]): bigint {
  return shape.reduce((acc, d) => acc * BigInt(d), 1n);
}

/**
 * Encodes float32 tensors (laid out contiguously in the given order) and
 * optional string metadata as safetensors bytes.
 *
 * @throws {RangeError} on an invalid name or a shape not matching the data length.
 * @throws {TypeError} on non-Float32Array data or a non-string metadata value.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = encodeSafetensors({ w: { shape: [2], data: new Float32Array([1, 2]) } });
 * assert.deepEqual([...decodeSafetensors(bytes).tensors.get("w")!.data], [1, 2]);
 * ```
 */
export function encodeSafetensors(
  tensors: Map<string, Float32Tensor> | Record<string, Float32Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  return encodeSafetensorsRaw(
    list.map(([name, { shape, data }]) => {
      if (!(data instanceof Float32Array)) {
        throw new TypeError(
          `Cannot encode safetensors: tensor "${name}" data is not a Float32Array`,
        );
      }
      return [name, { dtype: "F32", shape, data }];
    }),
    metadata,
  );
}

/** A tensor of any dtype for {@linkcode encodeSafetensorsRaw}: its elements as a typed array. */
export interface RawTensor {
  /** A safetensors dtype, e.g. `F16`, `I8`, `I32`. */
  dtype: string;
  shape: number[];
  /** The elements, little-endian; `byteLength` must be the shape's size times the dtype's. */
  data: ArrayBufferView;
}

/**
 * Encodes tensors of any dtype (laid out in the given order) and metadata.
 *
 * @example
 * ```ts
 * import { encodeSafetensorsRaw, readSafetensorsHeader } from "./safetensors.ts";
 * import assert from "node:assert/strict";
 * const bytes = encodeSafetensorsRaw([["q", { dtype: "I8", shape: [3], data: Int8Array.of(-1, 0, 1) }]]);
 * assert.equal(readSafetensorsHeader(bytes).entries.get("q")?.dtype, "I8");
 * ```
 */
export function encodeSafetensorsRaw(
  list: [string, RawTensor][],
  metadata: Record<string, string> = {},
): Uint8Array {
  const parts: string[] = [];
  const metaEntries = Object.entries(metadata);
  for (const [key, value] of metaEntries) {
    if (typeof value !== "string") {
      throw new TypeError(`Cannot encode safetensors: metadata value for "${key}" is not a string`);
    }
  }
  if (metaEntries.length > 0) {
    parts.push(
      `${JSON.stringify(METADATA_KEY)}:${JSON.stringify(Object.fromEntries(metaEntries))}`,
    );
  }
  let offset = 0;
  for (const [name, { dtype, shape, data }] of list) {
    if (name === "" || name === METADATA_KEY) {
      throw new RangeError(`Cannot encode safetensors: invalid tensor name "${name}"`);
    }
    if (!Array.isArray(shape) || !shape.every(isIndex)) {
      throw new RangeError(`Cannot encode safetensors: tensor "${name}" has an invalid shape`);
    }
    const size = Object.hasOwn(DTYPE_SIZES, dtype) ? DTYPE_SIZES[dtype]! : 0;
    if (size === 0) throw new RangeError(`Cannot encode safetensors: unknown dtype "${dtype}"`);
    if (product(shape) * BigInt(size) !== BigInt(data.byteLength)) {
      throw new RangeError(
        `Cannot encode safetensors: tensor "${name}" has shape "[${shape}]" ` +
          `but "${data.byteLength / size}" elements`,
      );
    }
    const entry = { dtype, shape, data_offsets: [offset, offset + data.byteLength] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(entry)}`);
    offset += data.byteLength;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerLength = Math.ceil((8 + json.length) / 8) * 8 - 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let pos = 8 + headerLength;
  for (const [, { data }] of list) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
    pos += data.byteLength;
  }
  return out;
}

function parseEntry(name: string, value: unknown): SafetensorsHeaderEntry {
  if (name === "") fail("tensor name is empty");
  if (!isPlainObject(value)) fail(`tensor "${name}" is not an object`);
  for (const field of ENTRY_FIELDS) {
    if (!Object.hasOwn(value, field)) fail(`tensor "${name}" is missing field "${field}"`);
  }
  for (const field of Object.keys(value)) {
    if (!ENTRY_FIELDS.includes(field)) fail(`tensor "${name}" has unexpected field "${field}"`);
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== "string") fail(`tensor "${name}" has a non-string dtype`);
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    fail(`tensor "${name}" has an invalid shape, expected an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    fail(`tensor "${name}" has invalid data_offsets, expected two non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(`tensor "${name}" has data_offsets begin "${begin}" after end "${end}"`);
  const size = Object.hasOwn(DTYPE_SIZES, dtype) ? DTYPE_SIZES[dtype] : undefined;
  if (size === undefined) fail(`tensor "${name}" has unknown dtype "${dtype}"`);
  if (product(shape) * BigInt(size) !== BigInt(end - begin)) {
    fail(
      `tensor "${name}" spans "${end - begin}" bytes but shape "[${shape}]" ` +
        `of dtype "${dtype}" needs "${product(shape) * BigInt(size)}"`,
    );
  }
  return { dtype, shape: [...shape], dataOffsets: [begin, end] };
}

/**
 * The first key that appears twice at the top level of a JSON object's text
 * (JSON.parse would silently keep the last one), or null.
 */
function firstDuplicateKey(text: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
      if (depth !== 1) continue;
      // A key is a string followed by a colon.
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j]!)) j++;
      if (text[j] !== ":") continue;
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      if (seen.has(key)) return key;
      seen.add(key);
    }
  }
  return null;
}

function parseMetadata(value: unknown): Record<string, string> {
  if (!isPlainObject(value)) fail(`"${METADATA_KEY}" is not an object`);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") fail(`metadata value for key "${key}" is not a string`);
  }
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

/**
 * Parses and validates only the header; returns entries with dtype, shape,
 * data_offsets, plus metadata and the data start offset. Accepts every dtype
 * of {@linkcode DTYPE_SIZES} and checks that the tensors tile `[0, end)`
 * contiguously, but does not require the data itself to be present, so a
 * prefix of a file holding the whole header suffices.
 *
 * @throws {SafetensorsError} when the header is malformed.
 *
 * @example
 * ```ts
 * import { encodeSafetensors, readSafetensorsHeader } from "./safetensors.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = encodeSafetensors({ w: { shape: [3], data: new Float32Array(3) } });
 * const header = readSafetensorsHeader(bytes);
 * assert.deepEqual(header.entries.get("w"), { dtype: "F32", shape: [3], dataOffsets: [0, 12] });
 * assert.equal(header.dataStart, bytes.length - 12);
 * ```
 */
export function readSafetensorsHeader(
  bytes: Uint8Array,
  options: DecodeSafetensorsOptions = {},
): SafetensorsHeader {
  const { maxHeaderBytes = 16 * 1024 * 1024 } = options;
  if (!isIndex(maxHeaderBytes)) throw new RangeError(`Invalid maxHeaderBytes "${maxHeaderBytes}"`);
  if (bytes.length < 8) fail(`buffer of "${bytes.length}" bytes is shorter than 8 bytes`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n === 0n) fail("header length is 0");
  if (n > BigInt(maxHeaderBytes)) {
    fail(`header length "${n}" exceeds the maximum of "${maxHeaderBytes}" bytes`);
  }
  if (n > BigInt(bytes.length - 8)) {
    fail(`header length "${n}" extends past the end of the "${bytes.length}"-byte buffer`);
  }
  const dataStart = 8 + Number(n);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
      .decode(bytes.subarray(8, dataStart));
  } catch {
    fail("header is not valid UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON ("${(e as Error).message}")`);
  }
  if (!isPlainObject(json)) fail("header is not a JSON object");
  const duplicate = firstDuplicateKey(text);
  if (duplicate !== null) fail(`tensor name "${duplicate}" appears more than once in the header`);
  let metadata: Record<string, string> = {};
  const list: [string, SafetensorsHeaderEntry][] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === METADATA_KEY) metadata = parseMetadata(value);
    else list.push([name, parseEntry(name, value)]);
  }
  list.sort(([, a], [, b]) =>
    a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]
  );
  let previous: [string, number] | undefined;
  for (const [name, { dataOffsets: [begin, end] }] of list) {
    if (previous === undefined && begin !== 0) {
      fail(`first tensor "${name}" starts at offset "${begin}" instead of "0"`);
    } else if (previous !== undefined && begin < previous[1]) {
      fail(`tensor "${name}" at offset "${begin}" overlaps tensor "${previous[0]}"`);
    } else if (previous !== undefined && begin > previous[1]) {
      fail(`gap of "${begin - previous[1]}" bytes before tensor "${name}" at offset "${begin}"`);
    }
    previous = [name, end];
  }
  return { entries: new Map(list), metadata, dataStart };
}

/**
 * Strictly decodes safetensors bytes holding only F32 tensors. The returned
 * arrays are copies and never alias `bytes`.
 *
 * @throws {SafetensorsError} when the bytes are malformed, a tensor is not
 * F32, or the tensors do not cover the data buffer exactly.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = encodeSafetensors({ s: { shape: [], data: Float32Array.of(7) } }, { v: "1" });
 * const { tensors, metadata } = decodeSafetensors(bytes);
 * assert.deepEqual(tensors.get("s"), { shape: [], data: Float32Array.of(7) });
 * assert.deepEqual(metadata, { v: "1" });
 * ```
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  options?: DecodeSafetensorsOptions,
): Safetensors {
  const { entries, metadata, dataStart } = readSafetensorsHeader(bytes, options);
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, Float32Tensor>();
  let last = 0;
  for (const [name, { dtype, shape, dataOffsets: [begin, end] }] of entries) {
    if (dtype !== "F32") fail(`tensor "${name}" has dtype "${dtype}", only "F32" is supported`);
    if (end > dataLength) {
      fail(`tensor "${name}" ends at "${end}", past the "${dataLength}"-byte data buffer`);
    }
    const copy = bytes.slice(dataStart + begin, dataStart + end);
    tensors.set(name, { shape, data: new Float32Array(copy.buffer) });
    last = end;
  }
  if (last !== dataLength) {
    fail(`data buffer has "${dataLength - last}" trailing bytes not covered by any tensor`);
  }
  return { tensors, metadata };
}
