import assert from "node:assert/strict";
import { SimulationConfigSchema } from "./config.ts";
import { loadPretrained, pretrainingSettings, savePretrained } from "./pretraining.ts";

Deno.test("a seed's pretraining is saved with its settings and reused only by a run with the same ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pretrained-" });
  try {
    const config = SimulationConfigSchema.parse({ task: "brown-pos", pretrainRounds: 30 });
    const weights = new Map([["block0_query/kernel", {
      shape: [2, 2],
      data: Float32Array.from([1, -2, 3.5, 1e-7]),
    }]]);
    await savePretrained(dir, pretrainingSettings(config, 2), weights);
    const loaded = await loadPretrained(dir, pretrainingSettings(config, 2));
    assert.deepEqual(loaded, weights);
    // Another seed, or other pretraining settings, are refused, naming what differs.
    await assert.rejects(
      () => loadPretrained(dir, pretrainingSettings(config, 3)),
      /no pretraining of seed 3/,
    );
    const longer = SimulationConfigSchema.parse({ task: "brown-pos", pretrainRounds: 40 });
    await assert.rejects(
      () => loadPretrained(dir, pretrainingSettings(longer, 2)),
      /seed 2 was pretrained with rounds 30, this run asks for 40/,
    );
    // Settings of the fine-tuning alone (its rounds, its labels) do not matter.
    const other = SimulationConfigSchema.parse({
      task: "brown-pos",
      pretrainRounds: 30,
      rounds: 3,
      labeledFraction: 0.5,
    });
    assert.equal((await loadPretrained(dir, pretrainingSettings(other, 2))).size, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
