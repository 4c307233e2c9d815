// The bound on what one update may claim: updates.maxExamples per update, and
// that many times its devices for an edge's update.
import assert from "node:assert/strict";
import { encodeSafetensors } from "../../shared/wire/safetensors.ts";
import { validateUpdate } from "./validate_update.ts";

const weights = [{ name: "w", shape: [2] }];
const update = (meta: Record<string, string>) =>
  encodeSafetensors(new Map([["w", { shape: [2], data: Float32Array.of(0.5, -0.5) }]]), {
    round: "1",
    baseVersion: "0",
    numUnlabeled: "0",
    ...meta,
  });

Deno.test("a device may claim up to updates.maxExamples examples; an edge that many times its devices", () => {
  const options = { maxExamples: 100_000 };
  assert.equal(validateUpdate(update({ numLabeled: "100000" }), weights, options).bytes > 0, true);
  assert.throws(
    () => validateUpdate(update({ numLabeled: "100001" }), weights, options),
    /claims 100001 examples, more than the task's bound updates.maxExamples = 100000/,
  );
  const edge = update({ numLabeled: "150000", numUnlabeled: "50000", devices: "2" });
  assert.equal(validateUpdate(edge, weights, options).metadata.devices, 2);
  assert.throws(
    () => validateUpdate(update({ numLabeled: "200001", devices: "2" }), weights, options),
    /times its 2 devices/,
  );
  // Without a bound (the pure function's default), any valid count passes.
  assert.equal(validateUpdate(update({ numLabeled: "999999999" }), weights).tensors.length, 1);
});
