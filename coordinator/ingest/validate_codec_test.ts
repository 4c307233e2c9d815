import assert from "node:assert/strict";
import { decodeUpdate, encodeUpdate } from "../../shared/wire/codec.ts";
import type { Float32Tensor } from "../../shared/wire/safetensors.ts";
import { UpdateCodecSchema } from "../../shared/schemas/mod.ts";
import { validateUpdate } from "./validate_update.ts";

const WEIGHTS = [{ name: "w", shape: [4, 3] }, { name: "b", shape: [3] }];
const META = { round: "1", baseVersion: "0", numLabeled: "2", numUnlabeled: "0" };
const delta = new Map<string, Float32Tensor>([
  ["w", { shape: [4, 3], data: Float32Array.from({ length: 12 }, (_, i) => (i - 6) / 10) }],
  ["b", { shape: [3], data: Float32Array.of(0.5, -0.25, 0) }],
]);

Deno.test("validateUpdate decodes the task's codec and refuses another", () => {
  for (const kind of ["f16", "int8", "topk"] as const) {
    const codec = UpdateCodecSchema.parse({ kind, count: kind === "topk" ? 2 : undefined });
    const bytes = encodeUpdate(delta, codec, META);
    const valid = validateUpdate(bytes, WEIGHTS, { codec: kind });
    assert.deepEqual(valid.tensors, decodeUpdate(bytes, WEIGHTS).tensors);
    assert.throws(
      () => validateUpdate(bytes, WEIGHTS),
      new RegExp(`the task takes "f32" updates, this one is "${kind}"`),
    );
    assert.throws(
      () =>
        validateUpdate(encodeUpdate(delta, UpdateCodecSchema.parse("f32"), META), WEIGHTS, {
          codec: kind,
        }),
      new RegExp(`the task takes "${kind}" updates, this one is "f32"`),
    );
  }
  // Decoded values still go through the finiteness and norm checks.
  const huge = new Map(delta);
  huge.set("b", { shape: [3], data: Float32Array.of(60000, 0, 0) });
  assert.throws(
    () =>
      validateUpdate(encodeUpdate(huge, UpdateCodecSchema.parse("f16"), META), WEIGHTS, {
        codec: "f16",
        maxNorm: 10,
      }),
    /exceeds the bound 10/,
  );
  const inf = new Map(delta);
  inf.set("b", { shape: [3], data: Float32Array.of(70000, 0, 0) }); // past the half range
  assert.throws(
    () =>
      validateUpdate(encodeUpdate(inf, UpdateCodecSchema.parse("f16"), META), WEIGHTS, {
        codec: "f16",
      }),
    /holds "Infinity"/,
  );
});
