// An independent NumPy forward pass (reference_forward.py, Debian's
// python3-numpy), written from the documented architecture only, reproduces
// the exported model's logits within 1e-4: bidirectional and causal, tied
// and untied, per token and pooled, on ids with padding.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { exportTransformer, transformerModel, type TransformerSpec } from "./model.ts";

await tf.setBackend("cpu");

/** Debian's Python, where python3-numpy installs (.ci/run installs it). */
const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./reference_forward.py", import.meta.url).pathname;

const base: TransformerSpec = {
  vocabSize: 23,
  layers: 2,
  dModel: 12,
  heads: 3,
  ffn: 20,
  maxLength: 7,
  causal: false,
  dropout: 0.1,
  tied: false,
  output: { kind: "tokens", classes: 6 },
};

Deno.test("a NumPy forward pass from the documented architecture reproduces the exported model's logits", async () => {
  const dir = await Deno.makeTempDir({ prefix: "transformer-reference-" });
  try {
    const specs: TransformerSpec[] = [
      base,
      { ...base, causal: true, tied: true, output: { kind: "tokens", classes: 23 } },
      { ...base, output: { kind: "sequence", classes: 4 } },
    ];
    const ids = [[3, 9, 14, 22, 5, 0, 0], [7, 7, 1, 2, 19, 11, 6]];
    for (const [n, spec] of specs.entries()) {
      const model = transformerModel(spec, { seed: 10 + n });
      // Not the initial weights alone (LayerNorm's gamma 1, beta 0, biases 0): move every weight.
      tf.tidy(() => {
        for (const w of model.weights) {
          w.write(tf.add(w.read(), tf.randomNormal(w.read().shape, 0, 0.1, "float32", n + 1)));
        }
      });
      const logits = (model.predict(tf.tensor2d(ids)) as tf.Tensor).arraySync();
      await Deno.writeFile(join(dir, "model.safetensors"), exportTransformer(model, spec));
      await Deno.writeTextFile(join(dir, "spec.json"), JSON.stringify(spec));
      await Deno.writeTextFile(join(dir, "ids.json"), JSON.stringify(ids));
      const output = await new Deno.Command(PYTHON, {
        args: [
          SCRIPT,
          join(dir, "model.safetensors"),
          join(dir, "spec.json"),
          join(dir, "ids.json"),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(output.success, new TextDecoder().decode(output.stderr));
      const reference = JSON.parse(new TextDecoder().decode(output.stdout));
      const a = (logits as number[][]).flat(2) as number[];
      const b = (reference as number[][]).flat(2) as number[];
      assert.equal(a.length, b.length);
      const worst = Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
      assert.ok(worst < 1e-4, `spec ${n}: largest difference ${worst}`);
      model.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
