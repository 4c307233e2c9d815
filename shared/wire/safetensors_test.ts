import assert from "node:assert/strict";
import {
  decodeSafetensors,
  DTYPE_SIZES,
  encodeSafetensors,
  type Float32Tensor,
  readSafetensorsHeader,
  SafetensorsError,
} from "./safetensors.ts";

/** Builds a file from a header (object or raw JSON text) and `dataLength` zero data bytes. */
function raw(header: unknown, dataLength = 0, headerLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(
    typeof header === "string" ? header : JSON.stringify(header),
  );
  const out = new Uint8Array(8 + json.length + dataLength);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

function f32(shape: number[], begin: number, end: number, dtype = "F32") {
  return { dtype, shape, data_offsets: [begin, end] };
}

function rejects(bytes: Uint8Array, message: RegExp, options?: { maxHeaderBytes?: number }) {
  assert.throws(() => decodeSafetensors(bytes, options), (e: unknown) => {
    assert.ok(e instanceof SafetensorsError);
    assert.ok(e instanceof SyntaxError);
    assert.equal(e.name, "SafetensorsError");
    assert.match(e.message, /^Cannot decode safetensors: [^]*[^.]$/);
    assert.match(e.message, message);
    return true;
  });
}

Deno.test("DTYPE_SIZES lists the safetensors dtypes", () => {
  assert.equal(Object.keys(DTYPE_SIZES).length, 15);
  assert.equal(DTYPE_SIZES["F32"], 4);
  assert.equal(DTYPE_SIZES["F8_E5M2"], 1);
  assert.equal(DTYPE_SIZES["U64"], 8);
  assert.ok(Object.isFrozen(DTYPE_SIZES));
});

Deno.test("decodeSafetensors() round-trips tensors and metadata", () => {
  const tensors = new Map<string, Float32Tensor>([
    ["weight", { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) }],
    ["scalar", { shape: [], data: Float32Array.of(Math.PI) }],
    ["empty", { shape: [0], data: new Float32Array(0) }],
    ["10", { shape: [1, 1], data: Float32Array.of(Number.NaN) }],
    ["bias", { shape: [3], data: new Float32Array([Infinity, -0, 1e-40]) }],
  ]);
  const metadata = { format: "pt", "ünïcode": "✓", "10": "" };
  const bytes = encodeSafetensors(tensors, metadata);
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLength) % 8, 0);
  const decoded = decodeSafetensors(bytes);
  assert.deepEqual(decoded.metadata, metadata);
  assert.deepEqual([...decoded.tensors.keys()], [...tensors.keys()]);
  assert.deepEqual(decoded.tensors, tensors);
  for (const tensor of decoded.tensors.values()) assert.notEqual(tensor.data.buffer, bytes.buffer);
  bytes.fill(0, 8 + headerLength);
  assert.deepEqual(decoded.tensors.get("weight")?.data, tensors.get("weight")?.data);
  // A plain record works as input too.
  const fromRecord = encodeSafetensors({ a: { shape: [1], data: Float32Array.of(2) } });
  assert.deepEqual(decodeSafetensors(fromRecord).tensors.get("a")?.data, Float32Array.of(2));
});

Deno.test("encodeSafetensors() writes the exact byte layout", () => {
  const bytes = encodeSafetensors(
    { a: { shape: [2], data: new Float32Array([1, -2]) } },
    { round: "1" },
  );
  const json =
    '{"__metadata__":{"round":"1"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  assert.equal(json.length, 83);
  const header = json + " ".repeat(5); // 8 + 88 = 96 is a multiple of 8
  const expected = [
    ...[88, 0, 0, 0, 0, 0, 0, 0],
    ...[...header].map((c) => c.charCodeAt(0)),
    ...[0x00, 0x00, 0x80, 0x3f], // 1.0f
    ...[0x00, 0x00, 0x00, 0xc0], // -2.0f
  ];
  assert.deepEqual([...bytes], expected);
  assert.equal(readSafetensorsHeader(bytes).dataStart, 96);
});

Deno.test("encodeSafetensors() omits empty metadata and pads an empty header", () => {
  const bytes = encodeSafetensors(new Map(), {});
  assert.deepEqual([...bytes], [8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32]);
  assert.deepEqual(decodeSafetensors(bytes), { tensors: new Map(), metadata: {} });
});

Deno.test("decodeSafetensors() copies data from a byteOffset-unaligned view", () => {
  const file = encodeSafetensors({
    x: { shape: [3], data: new Float32Array([0.5, -1, 3]) },
    y: { shape: [1], data: Float32Array.of(42) },
  });
  const backing = new Uint8Array(file.length + 5);
  backing.set(file, 3);
  const view = backing.subarray(3, 3 + file.length);
  const decoded = decodeSafetensors(view);
  assert.deepEqual(decoded.tensors.get("x")?.data, new Float32Array([0.5, -1, 3]));
  assert.deepEqual(decoded.tensors.get("y")?.data, Float32Array.of(42));
  assert.notEqual(decoded.tensors.get("x")?.data.buffer, backing.buffer);
});

Deno.test("decodeSafetensors() keeps the header's offset order", () => {
  const header = { b: f32([1], 4, 8), "2": f32([1], 8, 12), a: f32([1], 0, 4) };
  const decoded = decodeSafetensors(raw(header, 12));
  assert.deepEqual([...decoded.tensors.keys()], ["a", "b", "2"]);
});

Deno.test("readSafetensorsHeader() accepts other dtypes and a header-only prefix", () => {
  const bytes = raw({ __metadata__: { k: "v" }, h: f32([2, 2], 0, 8, "F16") }, 0);
  const header = readSafetensorsHeader(bytes);
  assert.deepEqual(header.entries.get("h"), { dtype: "F16", shape: [2, 2], dataOffsets: [0, 8] });
  assert.deepEqual(header.metadata, { k: "v" });
  assert.equal(header.dataStart, bytes.length);
});

Deno.test("encodeSafetensors() validates its input", async (t) => {
  await t.step("shape not matching data length", () => {
    assert.throws(
      () => encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }),
      (e: unknown) => e instanceof RangeError && /tensor "w"/.test(e.message),
    );
  });
  await t.step("invalid names", () => {
    const t1 = { shape: [], data: new Float32Array(1) };
    assert.throws(() => encodeSafetensors({ "": t1 }), RangeError);
    assert.throws(() => encodeSafetensors({ __metadata__: t1 }), RangeError);
  });
  await t.step("non-string metadata value", () => {
    const metadata = { n: 1 } as unknown as Record<string, string>;
    assert.throws(() => encodeSafetensors({}, metadata), TypeError);
  });
});

Deno.test("decodeSafetensors() rejects a buffer shorter than 8 bytes", () => {
  rejects(new Uint8Array(7), /shorter than 8 bytes/);
});

Deno.test("decodeSafetensors() rejects a header length of 0", () => {
  rejects(raw("", 4), /header length is 0/);
});

Deno.test("decodeSafetensors() rejects a header length past the end", () => {
  rejects(raw("{}", 0, 3n), /header length "3" extends past the end/);
});

Deno.test("decodeSafetensors() rejects a header length above maxHeaderBytes", () => {
  const bytes = encodeSafetensors({ a: { shape: [1], data: new Float32Array(1) } });
  rejects(bytes, /exceeds the maximum of "16" bytes/, { maxHeaderBytes: 16 });
  rejects(raw("{}", 0, 2n ** 64n - 1n), /"18446744073709551615" exceeds the maximum of "16777216"/);
});

Deno.test("decodeSafetensors() rejects a header that is not valid UTF-8", () => {
  const bytes = raw('{"a"}');
  bytes[9] = 0xff;
  rejects(bytes, /header is not valid UTF-8/);
});

Deno.test("decodeSafetensors() rejects a header that is not valid JSON", () => {
  rejects(raw('{"a":'), /header is not valid JSON/);
  rejects(raw("\ufeff{}"), /header is not valid JSON/);
});

Deno.test("decodeSafetensors() rejects a header that is not a JSON object", () => {
  for (const header of ["[]", "null", "1", '"x"']) {
    rejects(raw(header), /header is not a JSON object/);
  }
});

Deno.test("decodeSafetensors() rejects a tensor entry that is not an object", () => {
  rejects(raw({ a: [1] }), /tensor "a" is not an object/);
  rejects(raw({ a: null }), /tensor "a" is not an object/);
});

Deno.test("decodeSafetensors() rejects an entry with a missing field", () => {
  rejects(raw({ a: { dtype: "F32", shape: [0] } }), /tensor "a" is missing field "data_offsets"/);
});

Deno.test("decodeSafetensors() rejects an entry with an extra field", () => {
  rejects(raw({ a: { ...f32([0], 0, 0), x: 1 } }), /tensor "a" has unexpected field "x"/);
});

Deno.test("decodeSafetensors() rejects a non-string dtype", () => {
  rejects(raw({ a: { ...f32([0], 0, 0), dtype: 4 } }), /tensor "a" has a non-string dtype/);
});

Deno.test("decodeSafetensors() rejects an ill-typed shape", () => {
  for (const shape of [[-1], [1.5], ["2"], 2, [2 ** 53]]) {
    rejects(raw({ a: { ...f32([], 0, 4), shape } }), /tensor "a" has an invalid shape/);
  }
});

Deno.test("decodeSafetensors() rejects ill-typed data_offsets", () => {
  for (const offsets of [[0], [0, 4, 8], [-4, 0], [0, "4"], [0, 4.5], "0,4"]) {
    const header = { a: { ...f32([1], 0, 4), data_offsets: offsets } };
    rejects(raw(header, 4), /tensor "a" has invalid data_offsets/);
  }
});

Deno.test("decodeSafetensors() rejects data_offsets with begin after end", () => {
  rejects(raw({ a: f32([0], 4, 0) }, 4), /begin "4" after end "0"/);
});

Deno.test("decodeSafetensors() rejects an unknown dtype", () => {
  rejects(raw({ a: f32([1], 0, 4, "F128") }, 4), /tensor "a" has unknown dtype "F128"/);
  rejects(raw({ a: f32([1], 0, 4, "toString") }, 4), /unknown dtype "toString"/);
});

Deno.test("decodeSafetensors() rejects a known dtype other than F32", () => {
  rejects(
    raw({ x: f32([2], 0, 4, "F16") }, 4),
    /tensor "x" has dtype "F16", only "F32" is supported$/,
  );
});

Deno.test("decodeSafetensors() rejects offsets not matching shape and dtype size", () => {
  rejects(raw({ a: f32([2], 0, 4) }, 4), /tensor "a" spans "4" bytes but shape "\[2\]"/);
});

Deno.test("decodeSafetensors() rejects overlapping tensors", () => {
  rejects(raw({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12), /"b" at offset "4" overlaps/);
});

Deno.test("decodeSafetensors() rejects a gap between tensors", () => {
  rejects(raw({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12), /gap of "4" bytes before tensor "b"/);
});

Deno.test("decodeSafetensors() rejects a first tensor not starting at 0", () => {
  rejects(raw({ a: f32([1], 4, 8) }, 8), /first tensor "a" starts at offset "4" instead of "0"/);
});

Deno.test("decodeSafetensors() rejects data past the end of the buffer", () => {
  rejects(raw({ a: f32([2], 0, 8) }, 4), /tensor "a" ends at "8", past the "4"-byte data buffer/);
});

Deno.test("decodeSafetensors() rejects trailing bytes", () => {
  rejects(raw({ a: f32([1], 0, 4) }, 6), /"2" trailing bytes not covered/);
  rejects(raw({}, 1), /"1" trailing bytes/);
});

Deno.test("decodeSafetensors() rejects __metadata__ that is not an object", () => {
  rejects(raw({ __metadata__: ["x"] }), /"__metadata__" is not an object/);
});

Deno.test("decodeSafetensors() rejects non-string metadata values", () => {
  rejects(raw({ __metadata__: { k: 1 } }), /metadata value for key "k" is not a string/);
});

Deno.test("decodeSafetensors() rejects an empty tensor name", () => {
  rejects(raw({ "": f32([0], 0, 0) }), /tensor name is empty/);
});
