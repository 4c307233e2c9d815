/**
 * The wire format of a demo shard of MNIST digits, served to browser clients
 * that want to try a federation without data of their own: one row per 785
 * bytes, the label (255 for an unlabeled row) then 784 pixels scaled to
 * 0-255.
 * @module
 */
import type { Dataset } from "./dataset.ts";

/** Bytes of one row: a label byte and 28 x 28 pixels. */
export const DEMO_ROW_BYTES = 785;

const UNLABELED = 255;

/**
 * Encodes MNIST rows (pixels in [0, 1], labels -1 for unlabeled rows).
 *
 * @example
 * ```ts
 * import { decodeDemoShard, encodeDemoShard } from "./demo_shard.ts";
 * import assert from "node:assert/strict";
 * const rows = { x: new Float32Array(2 * 784).fill(1), labels: Int32Array.of(3, -1), featureShape: [784], numClasses: 10 };
 * const back = decodeDemoShard(encodeDemoShard(rows));
 * assert.deepEqual([...back.labels], [3, -1]);
 * assert.equal(back.x[0], 1);
 * ```
 */
export function encodeDemoShard(dataset: Dataset): Uint8Array {
  const rows = dataset.labels.length;
  if (dataset.x.length !== rows * 784) {
    throw new RangeError(`Cannot encode demo shard: rows must have 784 values`);
  }
  const bytes = new Uint8Array(rows * DEMO_ROW_BYTES);
  for (let r = 0; r < rows; r++) {
    const label = dataset.labels[r]!;
    bytes[r * DEMO_ROW_BYTES] = label < 0 ? UNLABELED : label;
    for (let i = 0; i < 784; i++) {
      const v = dataset.x[r * 784 + i]!;
      bytes[r * DEMO_ROW_BYTES + 1 + i] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  return bytes;
}

/** Decodes {@linkcode encodeDemoShard}'s bytes into rows of shape [784] with 10 classes. */
export function decodeDemoShard(bytes: Uint8Array): Dataset {
  if (bytes.length === 0 || bytes.length % DEMO_ROW_BYTES !== 0) {
    throw new RangeError(
      `Cannot read demo shard: ${bytes.length} bytes are not whole rows of ${DEMO_ROW_BYTES}`,
    );
  }
  const rows = bytes.length / DEMO_ROW_BYTES;
  const x = new Float32Array(rows * 784);
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const label = bytes[r * DEMO_ROW_BYTES]!;
    if (label !== UNLABELED && label > 9) {
      throw new RangeError(`Cannot read demo shard: row ${r} has label ${label}`);
    }
    labels[r] = label === UNLABELED ? -1 : label;
    for (let i = 0; i < 784; i++) x[r * 784 + i] = bytes[r * DEMO_ROW_BYTES + 1 + i]! / 255;
  }
  return { x, labels, featureShape: [784], numClasses: 10 };
}
