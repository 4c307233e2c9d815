/**
 * The transformer benchmark's model and rows, shared by its wasm rows
 * (bench/_transformer.ts), its profile, and the page of its WebGPU rows
 * (bench/_webgpu_page.ts, bundled for the browser, so nothing here may import
 * a Deno or Node.js module).
 * @module
 */
import type { Dataset } from "../shared/data/dataset.ts";
import { seededRandom } from "../shared/random.ts";
import type { TransformerSpec } from "../shared/transformer/model.ts";

/** The benchmark's model. */
export const SPEC: TransformerSpec = {
  vocabSize: 1000,
  layers: 2,
  dModel: 128,
  heads: 4,
  ffn: 512,
  maxLength: 128,
  causal: true,
  dropout: 0.1,
  tied: true,
  output: { kind: "tokens", classes: 1000 },
};

/** Rows a language model trains on: random ids, each labelled with the next. */
export function rows(count: number, seed: number): Dataset {
  const random = seededRandom(seed);
  const t = SPEC.maxLength;
  const x = new Float32Array(count * t);
  const labels = new Int32Array(count * t).fill(-1);
  for (let r = 0; r < count; r++) {
    for (let p = 0; p < t; p++) x[r * t + p] = 5 + Math.floor(random() * (SPEC.vocabSize - 5));
    for (let p = 0; p < t - 1; p++) labels[r * t + p] = x[r * t + p + 1]!;
  }
  return { x, labels, featureShape: [t], labelShape: [t], numClasses: SPEC.vocabSize };
}
