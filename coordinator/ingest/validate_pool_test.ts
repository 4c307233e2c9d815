// Validation in the worker gives what validateUpdate gives on the event
// loop: the same tensors, norm and metadata for a good update, the same
// refusal (status, code, message) for a bad one, and the bytes back intact.
import assert from "node:assert/strict";
import { encodeSafetensors, type Float32Tensor } from "../../shared/wire/safetensors.ts";
import { ApiError } from "../http/errors.ts";
import { ValidatePool } from "./validate_pool.ts";
import { validateUpdate } from "./validate_update.ts";

const weights = [{ name: "w", shape: [2, 3] }, { name: "b", shape: [3] }];
const meta = { round: "1", baseVersion: "0", numLabeled: "4", numUnlabeled: "2" };

function body(values: number[], bias = [0.5, 0.25, -1]): Uint8Array {
  const tensors = new Map<string, Float32Tensor>([
    ["w", { shape: [2, 3], data: Float32Array.from(values) }],
    ["b", { shape: [3], data: Float32Array.from(bias) }],
  ]);
  return encodeSafetensors(tensors, meta);
}

Deno.test("the validation worker agrees with validateUpdate, and refuses the same way", async () => {
  const pool = new ValidatePool();
  try {
    const good = body([1, 2, 3, 4, 5, 6]);
    const copy = good.slice();
    const expected = validateUpdate(copy, weights, { maxNorm: 100 });
    const { update, bytes } = await pool.validate(good, weights, { maxNorm: 100 });
    assert.deepEqual(bytes, copy, "the bytes come back whole");
    assert.deepEqual(update.tensors.map((t) => [...t]), expected.tensors.map((t) => [...t]));
    assert.equal(update.norm, expected.norm);
    assert.deepEqual(update.metadata, expected.metadata);
    for (const bad of [body([1, 2, 3, 4, 5, NaN]), body([1, 2, 3, 4, 5, 1e6])]) {
      let local: ApiError | null = null;
      try {
        validateUpdate(bad.slice(), weights, { maxNorm: 100 });
      } catch (error) {
        local = error as ApiError;
      }
      assert.ok(local instanceof ApiError);
      await assert.rejects(pool.validate(bad, weights, { maxNorm: 100 }), (error: unknown) => {
        assert.ok(error instanceof ApiError);
        assert.equal(error.status, local!.status);
        assert.equal(error.code, local!.code);
        assert.equal(error.message, local!.message);
        return true;
      });
    }
    // Several at once are answered each with its own result.
    const many = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pool.validate(body([i, 0, 0, 0, 0, 0]), weights, {})),
    );
    many.forEach(({ update }, i) => assert.equal(update.tensors[0]![0], i));
  } finally {
    pool.close();
  }
});
