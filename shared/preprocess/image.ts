/**
 * Image files to rows: {@linkcode decodeImage} turns PNG or JPEG bytes into
 * RGBA pixels, {@linkcode preprocessImage} turns those into the features a
 * task's {@linkcode ImageInput} asks for. Both are pure functions.
 * @module
 */
import { decode as decodePng, type DecodedPng } from "fast-png";
import { decode as decodeJpeg } from "jpeg-js";
import type { ImageInput } from "../schemas/mod.ts";

/** Pixels of a decoded image: 8-bit RGBA, row-major, top row first. */
export interface DecodedImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `width * height * 4` values: R, G, B and alpha of each pixel. */
  rgba: Uint8ClampedArray;
}

/** The largest image decoded, in pixels (the default of jpeg-js, applied to PNG too). */
const MAX_PIXELS = 100_000_000;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];

function startsWith(bytes: Uint8Array, signature: number[]): boolean {
  return bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b);
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Decodes a PNG or a JPEG image, told apart by their first bytes, to 8-bit
 * RGBA.
 *
 * PNG: grey, grey with alpha, RGB, RGBA and palette images, at every bit depth
 * (1, 2, 4, 8 and 16; 16-bit samples are rounded to 8 bits), with `tRNS`
 * transparency. JPEG: baseline and progressive, grey or colour; alpha is 255.
 * The EXIF orientation of a JPEG is not applied.
 *
 * Throws a `TypeError` when the bytes are neither PNG nor JPEG, and an `Error`
 * when the image is corrupt or larger than 100 megapixels.
 *
 * @example
 * ```ts
 * import { decodeImage } from "./image.ts";
 * import { encode } from "fast-png";
 * import assert from "node:assert/strict";
 * const png = encode({ width: 2, height: 1, data: Uint8Array.of(0, 255), channels: 1, depth: 8 });
 * const image = decodeImage(png);
 * assert.deepEqual([...image.rgba], [0, 0, 0, 255, 255, 255, 255, 255]);
 * assert.throws(() => decodeImage(new TextEncoder().encode("GIF89a")), TypeError);
 * ```
 */
export function decodeImage(bytes: Uint8Array): DecodedImage {
  if (startsWith(bytes, PNG_SIGNATURE)) return decodePngImage(bytes);
  if (startsWith(bytes, JPEG_SIGNATURE)) return decodeJpegImage(bytes);
  throw new TypeError("Cannot decode image: unsupported format, expected PNG or JPEG");
}

function checkSize(width: number, height: number): void {
  if (width * height > MAX_PIXELS) {
    throw new Error(
      `Cannot decode image: ${width}x${height} pixels exceed the limit of ${
        MAX_PIXELS / 1e6
      } megapixels`,
    );
  }
}

function decodePngImage(bytes: Uint8Array): DecodedImage {
  // IHDR comes first: its width and height sit at bytes 16-23 (big-endian).
  if (bytes.length >= 24) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    checkSize(view.getUint32(16), view.getUint32(20));
  }
  let png: DecodedPng;
  try {
    png = decodePng(bytes);
  } catch (error) {
    throw new Error(`Cannot decode image: invalid PNG: ${reason(error)}`, { cause: error });
  }
  return { width: png.width, height: png.height, rgba: pngToRgba(png) };
}

function pngToRgba(png: DecodedPng): Uint8ClampedArray {
  const { width, height, depth, channels, data, palette, transparency } = png;
  const pixels = width * height;
  const max = depth === 16 ? 0xffff : (1 << depth) - 1;
  // Samples below 8 bits are packed, rows padded to whole bytes.
  const rowBytes = Math.ceil((width * channels * depth) / 8);
  const expected = depth < 8 ? rowBytes * height : pixels * channels;
  if (data.length !== expected) {
    throw new Error(
      `Cannot decode image: unsupported PNG: ${depth}-bit data of ${data.length} samples, expected ${expected}`,
    );
  }
  const sample = depth >= 8 ? (p: number, c: number) => data[p * channels + c]! : (p: number) => {
    const x = p % width;
    const bit = x * depth;
    const byte = data[((p - x) / width) * rowBytes + (bit >> 3)]!;
    return (byte >> (8 - depth - (bit & 7))) & max;
  };
  const to8 = depth === 8 ? (v: number) => v : (v: number) => Math.round((v * 255) / max);
  const rgba = new Uint8ClampedArray(pixels * 4);
  for (let p = 0; p < pixels; p++) {
    const o = p * 4;
    if (palette) {
      const index = sample(p, 0);
      const color = palette[index];
      if (!color) {
        throw new Error(
          `Cannot decode image: invalid PNG: palette index ${index} out of ${palette.length} colours`,
        );
      }
      rgba[o] = color[0]!;
      rgba[o + 1] = color[1]!;
      rgba[o + 2] = color[2]!;
      rgba[o + 3] = color[3] ?? 255;
    } else if (channels <= 2) {
      const grey = sample(p, 0);
      rgba[o] = rgba[o + 1] = rgba[o + 2] = to8(grey);
      if (channels === 2) rgba[o + 3] = to8(sample(p, 1));
      else rgba[o + 3] = transparency?.length && transparency[0] === grey ? 0 : 255;
    } else {
      const r = sample(p, 0), g = sample(p, 1), b = sample(p, 2);
      rgba[o] = to8(r);
      rgba[o + 1] = to8(g);
      rgba[o + 2] = to8(b);
      if (channels === 4) rgba[o + 3] = to8(sample(p, 3));
      else {
        const key = transparency;
        rgba[o + 3] = key && key.length >= 3 && key[0] === r && key[1] === g && key[2] === b
          ? 0
          : 255;
      }
    }
  }
  return rgba;
}

function decodeJpegImage(bytes: Uint8Array): DecodedImage {
  let jpeg: { width: number; height: number; data: Uint8Array };
  try {
    jpeg = decodeJpeg(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_PIXELS / 1e6,
    });
  } catch (error) {
    throw new Error(`Cannot decode image: invalid JPEG: ${reason(error)}`, { cause: error });
  }
  const { width, height, data } = jpeg;
  if (!(width > 0 && height > 0) || data.length !== width * height * 4) {
    throw new Error(`Cannot decode image: invalid JPEG: decoded ${width}x${height} pixels`);
  }
  return { width, height, rgba: new Uint8ClampedArray(data.buffer, data.byteOffset, data.length) };
}

/** Source pixels and weights of each output pixel along one axis. */
interface Taps {
  /** Index of the first source pixel of output pixel `i`: `first[i]`. */
  first: Int32Array;
  /** Number of source pixels of output pixel `i`. */
  count: Int32Array;
  /** Weights, `maxCount` per output pixel, summing to 1. */
  weights: Float64Array;
  maxCount: number;
}

/**
 * Weights of a 1-D resize from `from` to `to` pixels: bilinear with half-pixel
 * centres when enlarging (or keeping the size), the average over the area each
 * output pixel covers when shrinking.
 */
function taps(from: number, to: number): Taps {
  const ratio = from / to;
  const maxCount = to < from ? Math.ceil(ratio) + 1 : 2;
  const first = new Int32Array(to);
  const count = new Int32Array(to);
  const weights = new Float64Array(to * maxCount);
  for (let i = 0; i < to; i++) {
    if (to < from) {
      const start = i * ratio, end = (i + 1) * ratio;
      const lo = Math.floor(start);
      const hi = Math.min(Math.ceil(end), from);
      first[i] = lo;
      count[i] = hi - lo;
      for (let j = lo; j < hi; j++) {
        weights[i * maxCount + j - lo] = (Math.min(end, j + 1) - Math.max(start, j)) / ratio;
      }
    } else {
      const src = Math.min(Math.max((i + 0.5) * ratio - 0.5, 0), from - 1);
      const lo = Math.floor(src);
      const frac = src - lo;
      first[i] = lo;
      count[i] = frac > 0 ? 2 : 1;
      weights[i * maxCount] = 1 - frac;
      weights[i * maxCount + 1] = frac;
    }
  }
  return { first, count, weights, maxCount };
}

/**
 * Turns decoded pixels into one row of features as `spec` asks, in HWC order
 * (`spec.height * spec.width * spec.channels` values).
 *
 * 1. Alpha is composited over **white** (a transparent pixel reads as blank
 *    paper; with `invert` it becomes 0, the MNIST background).
 * 2. `channels: 1` takes the mean of R, G and B; `channels: 3` keeps RGB.
 *    Values are the stored (sRGB) levels over 255, without gamma decoding.
 * 3. The image is resized to `spec.width` x `spec.height`, each axis on its
 *    own: bilinear with half-pixel centres where it grows or keeps its size
 *    (as `tf.image.resizeBilinear` with `halfPixelCenters`), the average over
 *    the covered area where it shrinks (no aliasing). The aspect ratio is not
 *    kept.
 * 4. `invert` takes `1 - v`; then `scale: "-1,1"` maps `v` to `2v - 1`.
 *
 * @example
 * ```ts
 * import { preprocessImage } from "./image.ts";
 * import assert from "node:assert/strict";
 * // 2x1 pixels, black and white, enlarged to 4x1 grey levels.
 * const rgba = Uint8ClampedArray.of(0, 0, 0, 255, 255, 255, 255, 255);
 * const spec = { width: 4, height: 1, channels: 1 as const, scale: "0,1" as const, invert: false };
 * assert.deepEqual([...preprocessImage({ width: 2, height: 1, rgba }, spec)], [0, 0.25, 0.75, 1]);
 * ```
 */
export function preprocessImage(image: DecodedImage, spec: ImageInput): Float32Array {
  const { width, height, rgba } = image;
  if (!(width > 0 && height > 0) || rgba.length !== width * height * 4) {
    throw new RangeError(
      `Cannot preprocess image: ${rgba.length} RGBA values do not fill ${width}x${height} pixels`,
    );
  }
  const channels = spec.channels;
  const outW = spec.width, outH = spec.height;
  const across = taps(width, outW);
  const down = taps(height, outH);
  // Composited values of one source pixel, in [0, 1].
  const pixel = new Float64Array(3);
  const read = (p: number) => {
    const o = p * 4;
    const alpha = rgba[o + 3]! / 255;
    const white = 1 - alpha;
    const r = (rgba[o]! / 255) * alpha + white;
    const g = (rgba[o + 1]! / 255) * alpha + white;
    const b = (rgba[o + 2]! / 255) * alpha + white;
    if (channels === 1) pixel[0] = (r + g + b) / 3;
    else {
      pixel[0] = r;
      pixel[1] = g;
      pixel[2] = b;
    }
  };
  // Horizontal pass: every source row to outW pixels.
  const rows = new Float64Array(height * outW * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outW; x++) {
      const base = (y * outW + x) * channels;
      const first = across.first[x]!, count = across.count[x]!;
      for (let k = 0; k < count; k++) {
        const weight = across.weights[x * across.maxCount + k]!;
        if (weight === 0) continue;
        read(y * width + first + k);
        for (let c = 0; c < channels; c++) rows[base + c]! += weight * pixel[c]!;
      }
    }
  }
  // Vertical pass, then invert and scale.
  const out = new Float32Array(outH * outW * channels);
  const signed = spec.scale === "-1,1";
  for (let y = 0; y < outH; y++) {
    const first = down.first[y]!, count = down.count[y]!;
    for (let x = 0; x < outW; x++) {
      for (let c = 0; c < channels; c++) {
        let v = 0;
        for (let k = 0; k < count; k++) {
          v += down.weights[y * down.maxCount + k]! *
            rows[((first + k) * outW + x) * channels + c]!;
        }
        v = Math.min(Math.max(v, 0), 1);
        if (spec.invert) v = 1 - v;
        out[(y * outW + x) * channels + c] = signed ? 2 * v - 1 : v;
      }
    }
  }
  return out;
}
