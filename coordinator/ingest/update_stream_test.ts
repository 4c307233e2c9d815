import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { encodeSafetensors } from "../../shared/wire/safetensors.ts";
import { seededRandom } from "../../shared/random.ts";
import { ApiError } from "../http/errors.ts";
import { UpdateStreamCheck } from "./update_stream.ts";
import { validateUpdate, type ValidateUpdateOptions } from "./validate_update.ts";

const WEIGHTS = [{ name: "a/kernel", shape: [30, 7] }, { name: "a/bias", shape: [7] }];
const META = { round: "1", baseVersion: "0", numLabeled: "4", numUnlabeled: "2" };

function update(random: () => number, tweak: (t: Record<string, Float32Array>) => void = () => {}) {
  const tensors: Record<string, Float32Array> = {
    "a/kernel": Float32Array.from({ length: 210 }, () => random() - 0.5),
    "a/bias": Float32Array.from({ length: 7 }, () => random() - 0.5),
  };
  tweak(tensors);
  return tensors;
}

function encode(
  tensors: Record<string, Float32Array>,
  shapes: Record<string, number[]> = {},
  meta = META,
) {
  return encodeSafetensors(
    Object.fromEntries(
      Object.entries(tensors).map(([name, data]) => [name, {
        shape: shapes[name] ?? WEIGHTS.find((w) => w.name === name)?.shape ?? [data.length],
        data,
      }]),
    ),
    meta,
  );
}

/** Streams `bytes` in random chunks (single bytes among them): the result, or the refusal's message. */
function streamed(bytes: Uint8Array, random: () => number, options: ValidateUpdateOptions = {}) {
  try {
    const check = new UpdateStreamCheck(WEIGHTS, options);
    for (let at = 0; at < bytes.length;) {
      const size = random() < 0.3 ? 1 : 1 + Math.floor(random() * 97);
      check.push(bytes.subarray(at, at + size));
      at += size;
    }
    return check.finish();
  } catch (error) {
    assert.ok(error instanceof ApiError, String(error));
    assert.equal(error.status, 400);
    return error.message;
  }
}

function whole(bytes: Uint8Array, options: ValidateUpdateOptions = {}) {
  try {
    return validateUpdate(bytes, WEIGHTS, options);
  } catch (error) {
    assert.ok(error instanceof ApiError);
    return error.message;
  }
}

Deno.test("a streamed update is accepted or refused as the whole one is, with the same reason", () => {
  const random = seededRandom(3);
  const cases: [string, Uint8Array, ValidateUpdateOptions?][] = [];
  for (let i = 0; i < 20; i++) cases.push([`valid ${i}`, encode(update(random))]);
  for (const bad of [NaN, Infinity, -Infinity]) {
    for (const at of [0, 1, 100, 209]) {
      cases.push([`${bad} at ${at}`, encode(update(random, (t) => (t["a/kernel"]![at] = bad)))]);
    }
    cases.push([`${bad} in the bias`, encode(update(random, (t) => (t["a/bias"]![6] = bad)))]);
  }
  cases.push(["a missing tensor", encode(update(random, (t) => delete t["a/bias"]))]);
  cases.push(["an extra tensor", encode(update(random, (t) => (t["b"] = Float32Array.of(1))))]);
  cases.push(["a wrong shape", encode(update(random), { "a/kernel": [7, 30] })]);
  cases.push(["an example bound", encode(update(random)), { maxExamples: 5 }]);
  cases.push(["a norm bound", encode(update(random)), { maxNorm: 1 }]);
  cases.push(["metadata", encode(update(random), {}, { ...META, round: "x" })]);
  for (const [name, bytes, options] of cases) {
    const a = streamed(bytes, random, options);
    const b = whole(bytes, options);
    if (typeof b === "string") assert.equal(a, b, name);
    else {
      assert.notEqual(typeof a, "string", `${name}: ${a}`);
      const s = a as Exclude<typeof a, string>;
      assert.deepEqual(s.metadata, b.metadata);
      assert.equal(s.digest, createHash("sha256").update(bytes).digest("hex"));
      assert.equal(s.bytes, bytes.length);
      assert.ok(Math.abs(s.norm - b.norm) <= 1e-12 * b.norm, name);
      assert.equal(s.factor, 1);
      // The regions hold each tensor's bytes, in the model's order.
      s.regions.forEach((r, i) => {
        const values = new Float32Array(bytes.slice(r.begin, r.end).buffer);
        assert.deepEqual(values, b.tensors[i]);
      });
    }
  }
});

Deno.test("a streamed update cut short, or longer than its tensors, or with a broken header, is refused", () => {
  const random = seededRandom(4);
  const bytes = encode(update(random));
  for (const cut of [0, 4, 8, 20, bytes.length - 1]) {
    const got = streamed(bytes.subarray(0, cut), random);
    assert.equal(typeof got, "string", `cut at ${cut}`);
    assert.match(got as string, /Cannot accept update: /);
  }
  const longer = new Uint8Array(bytes.length + 3);
  longer.set(bytes);
  assert.match(streamed(longer, random) as string, /trailing bytes/);
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
  assert.match(streamed(huge, random) as string, /header length .* exceeds/);
  const clipped = streamed(bytes, random, { maxNorm: 1, overNorm: "clip" });
  assert.ok(typeof clipped !== "string" && clipped.factor < 1);
  assert.ok(
    typeof clipped !== "string" && Math.abs(clipped.factor * clipped.norm - 1) < 1e-12,
  );
  assert.throws(() => new UpdateStreamCheck(WEIGHTS, { codec: "int8" }), /f32 only/);
});
