import assert from "node:assert/strict";
import { encode as encodePng } from "fast-png";
import { encode as encodeJpeg } from "jpeg-js";
import type { ImageInput } from "../schemas/mod.ts";
import { type DecodedImage, decodeImage, preprocessImage } from "./image.ts";

/** Asserts equal lengths and values within `tolerance`. */
function assertClose(actual: ArrayLike<number>, expected: number[], tolerance = 1e-6) {
  assert.equal(
    actual.length,
    expected.length,
    `length ${actual.length}, expected ${expected.length}`,
  );
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tolerance,
      `value ${i} is ${actual[i]}, expected ${expected[i]} (±${tolerance}): [${[
        ...Array.from(actual),
      ]}]`,
    );
  }
}

/** RGBA of grey levels, opaque. */
function greyRgba(levels: number[]): number[] {
  return levels.flatMap((v) => [v, v, v, 255]);
}

function image(width: number, height: number, rgba: number[]): DecodedImage {
  return { width, height, rgba: Uint8ClampedArray.from(rgba) };
}

function spec(width: number, height: number, options: Partial<ImageInput> = {}): ImageInput {
  return { width, height, channels: 1, scale: "0,1", invert: false, ...options };
}

// --- decodeImage: PNG ----------------------------------------------------------

Deno.test("decodeImage() decodes an 8-bit grey PNG exactly", () => {
  const grey = encodePng({
    width: 3,
    height: 2,
    channels: 1,
    depth: 8,
    data: Uint8Array.of(0, 1, 2, 127, 254, 255),
  });
  const decoded = decodeImage(grey);
  assert.equal(decoded.width, 3);
  assert.equal(decoded.height, 2);
  assert.ok(decoded.rgba instanceof Uint8ClampedArray);
  assert.deepEqual([...decoded.rgba], greyRgba([0, 1, 2, 127, 254, 255]));
});

Deno.test("decodeImage() decodes 1-, 2- and 4-bit grey PNGs, scaling levels to 0-255", () => {
  // 2 bits, 3 pixels a row, rows padded to whole bytes: 00 01 11 |00 and 10 11 00 |00.
  const two = encodePng({
    width: 3,
    height: 2,
    channels: 1,
    depth: 2,
    data: Uint8Array.of(0b00011100, 0b10110000),
  });
  assert.deepEqual([...decodeImage(two).rgba], greyRgba([0, 85, 255, 170, 255, 0]));
  // 1 bit, 10 pixels in one row: 1010000011 then padding.
  const one = encodePng({
    width: 10,
    height: 1,
    channels: 1,
    depth: 1,
    data: Uint8Array.of(0b10100000, 0b11000000),
  });
  assert.deepEqual(
    [...decodeImage(one).rgba],
    greyRgba([255, 0, 255, 0, 0, 0, 0, 0, 255, 255]),
  );
  // 4 bits: 0x0, 0xf, 0x8 (8 * 17 = 136).
  const four = encodePng({
    width: 3,
    height: 1,
    channels: 1,
    depth: 4,
    data: Uint8Array.of(0x0f, 0x80),
  });
  assert.deepEqual([...decodeImage(four).rgba], greyRgba([0, 255, 136]));
});

Deno.test("decodeImage() decodes a 16-bit grey PNG, rounding to 8 bits", () => {
  const png = encodePng({
    width: 4,
    height: 1,
    channels: 1,
    depth: 16,
    data: Uint16Array.of(0, 257, 32896, 65535),
  });
  assert.deepEqual([...decodeImage(png).rgba], greyRgba([0, 1, 128, 255]));
});

Deno.test("decodeImage() decodes a grey + alpha PNG", () => {
  const png = encodePng({
    width: 2,
    height: 1,
    channels: 2,
    depth: 8,
    data: Uint8Array.of(10, 0, 200, 128),
  });
  assert.deepEqual([...decodeImage(png).rgba], [10, 10, 10, 0, 200, 200, 200, 128]);
});

Deno.test("decodeImage() decodes RGB and RGBA PNGs exactly", () => {
  const rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 12, 34, 56];
  const png = encodePng({ width: 2, height: 2, channels: 3, depth: 8, data: Uint8Array.from(rgb) });
  const decoded = decodeImage(png);
  assert.equal(decoded.width, 2);
  assert.equal(decoded.height, 2);
  assert.deepEqual([...decoded.rgba], [
    ...[255, 0, 0, 255],
    ...[0, 255, 0, 255],
    ...[0, 0, 255, 255],
    ...[12, 34, 56, 255],
  ]);
  const rgba = [1, 2, 3, 4, 250, 251, 252, 253];
  const png4 = encodePng({ width: 1, height: 2, data: Uint8Array.from(rgba) });
  assert.deepEqual([...decodeImage(png4).rgba], rgba);
});

Deno.test("decodeImage() decodes a 16-bit RGBA PNG", () => {
  const png = encodePng({
    width: 1,
    height: 1,
    channels: 4,
    depth: 16,
    data: Uint16Array.of(65535, 0, 25700, 32768),
  });
  // 25700 / 257 = 100; 32768 / 257 = 127.5 -> 128.
  assert.deepEqual([...decodeImage(png).rgba], [255, 0, 100, 128]);
});

Deno.test("decodeImage() decodes an Adam7-interlaced PNG", () => {
  const width = 9, height = 7;
  const data = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 37) % 256);
  const png = encodePng({ width, height, channels: 3, depth: 8, data }, { interlace: "Adam7" });
  const expected: number[] = [];
  for (let p = 0; p < width * height; p++) expected.push(...data.subarray(p * 3, p * 3 + 3), 255);
  assert.deepEqual([...decodeImage(png).rgba], expected);
});

Deno.test("decodeImage() decodes palette PNGs, with and without alpha", async (t) => {
  await t.step("8-bit indices, opaque palette", () => {
    const png = encodePng({
      width: 3,
      height: 1,
      channels: 1,
      depth: 8,
      data: Uint8Array.of(2, 0, 1),
      palette: [[255, 0, 0], [0, 255, 0], [10, 20, 30]],
    });
    assert.deepEqual([...decodeImage(png).rgba], [10, 20, 30, 255, 255, 0, 0, 255, 0, 255, 0, 255]);
  });
  await t.step("palette with alpha (tRNS)", () => {
    // fast-png's encoder writes only the alphas that are not 255 into tRNS, which
    // is positional: translucent colours must come first for it to be right.
    const png = encodePng({
      width: 2,
      height: 1,
      channels: 1,
      depth: 8,
      data: Uint8Array.of(1, 0),
      palette: [[0, 0, 255, 64], [255, 0, 0, 255]],
    });
    assert.deepEqual([...decodeImage(png).rgba], [255, 0, 0, 255, 0, 0, 255, 64]);
  });
  await t.step("4-bit indices", () => {
    const png = encodePng({
      width: 3,
      height: 1,
      channels: 1,
      depth: 4,
      data: Uint8Array.of(0x10, 0x20),
      palette: [[0, 0, 0], [1, 1, 1], [2, 2, 2]],
    });
    assert.deepEqual([...decodeImage(png).rgba], [1, 1, 1, 255, 0, 0, 0, 255, 2, 2, 2, 255]);
  });
});

/** CRC-32 of PNG chunks (ISO 3309). */
function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** `png` with a chunk inserted right after IHDR (which ends at byte 33). */
function withChunk(png: Uint8Array, type: string, body: Uint8Array): Uint8Array {
  const chunk = new Uint8Array(12 + body.length);
  const view = new DataView(chunk.buffer);
  view.setUint32(0, body.length);
  chunk.set(new TextEncoder().encode(type), 4);
  chunk.set(body, 8);
  view.setUint32(8 + body.length, crc32(chunk.subarray(4, 8 + body.length)));
  const out = new Uint8Array(png.length + chunk.length);
  out.set(png.subarray(0, 33));
  out.set(chunk, 33);
  out.set(png.subarray(33), 33 + chunk.length);
  return out;
}

Deno.test("decodeImage() applies tRNS transparency of grey and RGB PNGs", () => {
  const grey = encodePng({
    width: 3,
    height: 1,
    channels: 1,
    depth: 8,
    data: Uint8Array.of(0, 7, 9),
  });
  const keyed = withChunk(grey, "tRNS", Uint8Array.of(0, 7));
  assert.deepEqual([...decodeImage(keyed).rgba], [0, 0, 0, 255, 7, 7, 7, 0, 9, 9, 9, 255]);
  // (fast-png refuses an RGB tRNS key on an image of fewer than 3 pixels.)
  const rgb = encodePng({
    width: 3,
    height: 1,
    channels: 3,
    depth: 8,
    data: Uint8Array.of(1, 2, 3, 1, 2, 4, 3, 2, 1),
  });
  const keyedRgb = withChunk(rgb, "tRNS", Uint8Array.of(0, 1, 0, 2, 0, 3));
  assert.deepEqual([...decodeImage(keyedRgb).rgba], [1, 2, 3, 0, 1, 2, 4, 255, 3, 2, 1, 255]);
});

// --- decodeImage: JPEG and errors --------------------------------------------

Deno.test("decodeImage() decodes a JPEG within compression tolerance", () => {
  // Two flat 8x8 blocks, the left one warm, the right one cool.
  const width = 16, height = 8;
  const left = [200, 50, 30], right = [20, 100, 220];
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    data.set([...(p % width < 8 ? left : right), 255], p * 4);
  }
  const jpeg = encodeJpeg({ width, height, data }, 95);
  assert.deepEqual([...jpeg.data.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  const decoded = decodeImage(new Uint8Array(jpeg.data));
  assert.equal(decoded.width, width);
  assert.equal(decoded.height, height);
  assert.equal(decoded.rgba.length, width * height * 4);
  for (const [x, y] of [[0, 0], [3, 4], [7, 7], [8, 0], [12, 3], [15, 7]] as const) {
    const o = (y * width + x) * 4;
    const want = x < 8 ? left : right;
    assertClose([...decoded.rgba.subarray(o, o + 4)], [...want, 255], 6);
  }
  // And the whole path to features: mean of the (decoded) RGB of the left block.
  const row = preprocessImage(decoded, spec(2, 1));
  assertClose(row, [(200 + 50 + 30) / 3 / 255, (20 + 100 + 220) / 3 / 255], 6 / 255);
});

Deno.test("decodeImage() rejects bytes that are neither PNG nor JPEG with a TypeError", () => {
  const cases = [
    new Uint8Array(0),
    new TextEncoder().encode("GIF89a......"),
    Uint8Array.of(0x42, 0x4d, 0, 0, 0, 0), // BMP
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47), // a PNG signature cut short
    Uint8Array.of(0xff, 0xd8), // a JPEG signature cut short
  ];
  for (const bytes of cases) {
    assert.throws(
      () => decodeImage(bytes),
      (error: unknown) =>
        error instanceof TypeError &&
        error.message === "Cannot decode image: unsupported format, expected PNG or JPEG",
    );
  }
});

Deno.test("decodeImage() rejects a corrupt PNG or JPEG with a clear error", () => {
  const png = encodePng({ width: 4, height: 4, channels: 3, depth: 8, data: new Uint8Array(48) });
  assert.throws(
    () => decodeImage(png.subarray(0, 30)),
    (error: unknown) =>
      error instanceof Error && !(error instanceof TypeError) &&
      error.message.startsWith("Cannot decode image: invalid PNG: "),
  );
  const jpeg = encodeJpeg({ width: 8, height: 8, data: new Uint8Array(256) }, 90).data;
  const broken = new Uint8Array(jpeg);
  broken.fill(0, 3, 40);
  assert.throws(
    () => decodeImage(broken),
    (error: unknown) =>
      error instanceof Error && error.message.startsWith("Cannot decode image: invalid JPEG: "),
  );
});

Deno.test("decodeImage() refuses a PNG over 100 megapixels before decoding it", () => {
  const png = encodePng({ width: 1, height: 1, channels: 1, depth: 8, data: Uint8Array.of(0) });
  const huge = new Uint8Array(png);
  new DataView(huge.buffer).setUint32(16, 20000);
  new DataView(huge.buffer).setUint32(20, 20000);
  assert.throws(() => decodeImage(huge), /20000x20000 pixels exceed the limit of 100 megapixels/);
});

// --- preprocessImage -------------------------------------------------------------

Deno.test("preprocessImage() keeps the pixels when the size does not change", () => {
  const row = preprocessImage(image(2, 2, greyRgba([0, 51, 102, 255])), spec(2, 2));
  assert.ok(row instanceof Float32Array);
  assertClose(row, [0, 0.2, 0.4, 1]);
});

Deno.test("preprocessImage() enlarges bilinearly with half-pixel centres", async (t) => {
  await t.step("a 2-pixel gradient to 4 pixels", () => {
    // Output centres sit at source x = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
    assertClose(preprocessImage(image(2, 1, greyRgba([0, 255])), spec(4, 1)), [0, 0.25, 0.75, 1]);
  });
  await t.step("one white corner of 2x2 to 4x4: the outer product of the 1-D weights", () => {
    const row = preprocessImage(image(2, 2, greyRgba([0, 255, 0, 0])), spec(4, 4));
    const across = [0, 0.25, 0.75, 1], down = [1, 0.75, 0.25, 0];
    assertClose(row, down.flatMap((wy) => across.map((wx) => wx * wy)));
  });
  await t.step("3 pixels to 5", () => {
    // Ratio 0.6: centres at -0.2, 0.4, 1, 1.6, 2.2 -> clamped 0, 0.4, 1, 1.6, 2.
    const row = preprocessImage(image(3, 1, greyRgba([0, 255, 51])), spec(5, 1));
    assertClose(row, [0, 0.4, 1, 0.4 * 1 + 0.6 * 0.2, 0.2]);
  });
});

Deno.test("preprocessImage() shrinks by averaging the area each output pixel covers", async (t) => {
  await t.step("a 4-pixel gradient to 2", () => {
    const row = preprocessImage(image(4, 1, greyRgba([0, 85, 170, 255])), spec(2, 1));
    assertClose(row, [1 / 6, 5 / 6]);
  });
  await t.step("a 4x4 checkerboard to 2x2 is uniform grey", () => {
    const levels = Array.from(
      { length: 16 },
      (_, i) => ((i % 4) + Math.floor(i / 4)) % 2 ? 255 : 0,
    );
    assertClose(preprocessImage(image(4, 4, greyRgba(levels)), spec(2, 2)), [0.5, 0.5, 0.5, 0.5]);
  });
  await t.step("3 pixels to 2: fractional coverage", () => {
    // Output 0 covers [0, 1.5): (0 + 0.5 * 1) / 1.5; output 1 covers [1.5, 3): (0.5 + 1) / 1.5.
    const row = preprocessImage(image(3, 1, greyRgba([0, 255, 255])), spec(2, 1));
    assertClose(row, [1 / 3, 1]);
  });
  await t.step("one axis shrinks while the other grows", () => {
    const row = preprocessImage(image(4, 1, greyRgba([0, 85, 170, 255])), spec(2, 2));
    assertClose(row, [1 / 6, 5 / 6, 1 / 6, 5 / 6]);
  });
  await t.step("to a single pixel: the mean", () => {
    const row = preprocessImage(image(3, 2, greyRgba([0, 51, 102, 153, 204, 255])), spec(1, 1));
    assertClose(row, [0.5]);
  });
});

Deno.test("preprocessImage() gives grey as the mean of R, G and B, or keeps RGB in HWC order", () => {
  const rgba = [255, 0, 0, 255, 30, 60, 90, 255, 0, 0, 255, 255, 255, 255, 255, 255];
  const grey = preprocessImage(image(2, 2, rgba), spec(2, 2));
  assertClose(grey, [1 / 3, 60 / 255, 1 / 3, 1]);
  const rgb = preprocessImage(image(2, 2, rgba), spec(2, 2, { channels: 3 }));
  assert.equal(rgb.length, 2 * 2 * 3);
  assertClose(rgb, [1, 0, 0, 30 / 255, 60 / 255, 90 / 255, 0, 0, 1, 1, 1, 1]);
  // A 1x2 image (one column, two rows) enlarged to 2x2 RGB: rows first, then columns, then channels.
  const tall = image(1, 2, [255, 0, 0, 255, 0, 0, 255, 255]);
  assertClose(preprocessImage(tall, spec(2, 2, { channels: 3 })), [
    ...[1, 0, 0, 1, 0, 0],
    ...[0, 0, 1, 0, 0, 1],
  ]);
});

Deno.test("preprocessImage() composites alpha over white", () => {
  // Transparent black reads as white; half-transparent black as half grey.
  const rgba = [0, 0, 0, 0, 0, 0, 0, 255, 0, 0, 0, 128, 255, 0, 0, 51];
  const grey = preprocessImage(image(4, 1, rgba), spec(4, 1));
  // Red at alpha 0.2 over white: (1, 0.8, 0.8), grey 2.6 / 3.
  assertClose(grey, [1, 0, 1 - 128 / 255, 2.6 / 3]);
  const rgb = preprocessImage(image(4, 1, rgba), spec(4, 1, { channels: 3 }));
  assertClose(rgb.subarray(9), [1, 0.8, 0.8]);
  // Compositing comes before resizing: a transparent pixel counts as white paper.
  assertClose(preprocessImage(image(2, 1, rgba.slice(0, 8)), spec(1, 1)), [0.5]);
});

Deno.test("preprocessImage() scales to [-1, 1] and inverts before scaling", () => {
  const src = image(3, 1, greyRgba([0, 255, 51]));
  assertClose(preprocessImage(src, spec(3, 1, { scale: "-1,1" })), [-1, 1, -0.6]);
  assertClose(preprocessImage(src, spec(3, 1, { invert: true })), [1, 0, 0.8]);
  assertClose(preprocessImage(src, spec(3, 1, { invert: true, scale: "-1,1" })), [1, -1, 0.6]);
  // Inverted, transparent pixels become 0: the MNIST background.
  const clear = image(1, 1, [0, 0, 0, 0]);
  assertClose(preprocessImage(clear, spec(1, 1, { invert: true })), [0]);
});

Deno.test("preprocessImage() gives width * height * channels values", () => {
  const src = image(5, 3, greyRgba(Array.from({ length: 15 }, (_, i) => i * 17)));
  for (const [w, h, c] of [[28, 28, 1], [7, 2, 3], [1, 9, 1], [5, 3, 3]] as const) {
    const row = preprocessImage(src, spec(w, h, { channels: c }));
    assert.equal(row.length, w * h * c);
    assert.ok(row.every((v) => v >= 0 && v <= 1));
  }
});

Deno.test("preprocessImage() rejects RGBA data that does not fill the image", () => {
  assert.throws(
    () => preprocessImage(image(2, 2, [0, 0, 0, 255]), spec(1, 1)),
    (error: unknown) =>
      error instanceof RangeError && /4 RGBA values do not fill 2x2/.test(error.message),
  );
});
