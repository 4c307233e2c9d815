// Fuzzing: seeded random mutations of a valid update, fed to the safetensors
// decoder and to POST /v1/updates. The decoder either decodes or throws a
// SafetensorsError; the endpoint answers 202 or a 4xx with a JSON error, never
// a 500, a crash or a hang. FUZZ_CASES sets the number of cases (default
// 2000; `deno task fuzz` runs 50,000), FUZZ_SEED the seed.
import assert from "node:assert/strict";
import { startBackend } from "../../client/training/backend.ts";
import { buildModel } from "../../shared/model/model.ts";
import { seededRandom } from "../../shared/random.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type Float32Tensor,
  SafetensorsError,
} from "../../shared/wire/safetensors.ts";
import {
  ErrorResponseSchema,
  TaskConfigSchema,
  UpdateCodecSchema,
} from "../../shared/schemas/mod.ts";
import { CodecError, decodeUpdate, encodeUpdate } from "../../shared/wire/codec.ts";
import { dense, sequential } from "../../shared/tasks/layers.ts";
import { createApp } from "./app.ts";
import { Federation } from "../federation/federation.ts";
import { TaskRegistry } from "../federation/registry.ts";
import { elementCount } from "../../shared/shape.ts";

await startBackend("wasm");

const CASES = Number(Deno.env.get("FUZZ_CASES") ?? 2000);
const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 1);

const task = TaskConfigSchema.parse({
  id: "fuzz",
  model: {
    topology: sequential("fuzz", [dense("dense1", 6, "relu", [4]), dense("logits", 3, "linear")]),
  },
  input: { shape: [4], labels: ["a", "b", "c"] },
  // Rounds never close: every accepted update stays in the open round.
  rounds: { total: 1, targetClients: 1_000_000, minClients: 1_000_000, timeoutSeconds: 86400 },
  updates: { maxNorm: 100, overNorm: "reject", maxExamples: 100_000 },
});

function validUpdate(federation: Federation, clientId: string): Uint8Array {
  const tensors = new Map<string, Float32Tensor>(
    federation.trainable.map(({ name, shape }) => [name, {
      shape,
      data: new Float32Array(elementCount(shape)).fill(0.01),
    }]),
  );
  return encodeSafetensors(tensors, {
    round: "1",
    baseVersion: "0",
    numLabeled: "2",
    numUnlabeled: "3",
    clientId,
  });
}

type Random = () => number;
const int = (random: Random, n: number) => Math.floor(random() * n);

/** One seeded mutation of `bytes`. */
function mutate(bytes: Uint8Array, random: Random): Uint8Array {
  const out = new Uint8Array(bytes);
  const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const pick = int(random, 9);
  switch (pick) {
    case 0: // flip bytes in the header
      for (let i = 0, n = 1 + int(random, 4); i < n; i++) {
        const at = 8 + int(random, headerEnd - 8);
        out[at] = out[at]! ^ (1 << int(random, 8));
      }
      return out;
    case 1: // random bytes anywhere
      for (let i = 0, n = 1 + int(random, 8); i < n; i++) {
        out[int(random, out.length)] = int(random, 256);
      }
      return out;
    case 2: // truncate
      return out.subarray(0, int(random, out.length));
    case 3: // extend with junk
      return Uint8Array.from([
        ...out,
        ...Array.from({ length: 1 + int(random, 64) }, () => int(random, 256)),
      ]);
    case 4: { // a new length prefix
      const view = new DataView(out.buffer);
      const choices = [
        0n,
        1n,
        BigInt(headerEnd),
        2n ** 40n,
        2n ** 64n - 1n,
        BigInt(int(random, out.length)),
      ];
      view.setBigUint64(0, choices[int(random, choices.length)]!, true);
      return out;
    }
    case 5: { // a digit of the header changed (shapes, offsets, counts, round)
      const text = new TextDecoder().decode(out.subarray(8, headerEnd));
      const digits = [...text.matchAll(/\d/g)];
      if (digits.length === 0) return out;
      const at = 8 + digits[int(random, digits.length)]!.index!;
      out[at] = "0123456789-e.".charCodeAt(int(random, 13));
      return out;
    }
    case 6: // a data value made NaN, Infinity or huge
      {
        const at = headerEnd + 4 * int(random, (out.length - headerEnd) >> 2);
        const view = new DataView(out.buffer);
        view.setFloat32(at, [NaN, Infinity, -Infinity, 1e30, -0][int(random, 5)]!, true);
      }
      return out;
    case 7: { // a header token swapped for another
      const text = new TextDecoder().decode(out.subarray(8, headerEnd));
      const tokens = ['"F32"', '"F16"', '"I64"', "[]", "{}", "null", '"x"', "[1,2,3]", "-1"];
      const swapped = text.replace(/"F32"|\[\d+(,\d+)*\]/, tokens[int(random, tokens.length)]!);
      const header = new TextEncoder().encode(swapped.padEnd(headerEnd - 8, " "));
      const result = new Uint8Array(8 + header.length + out.length - headerEnd);
      new DataView(result.buffer).setBigUint64(0, BigInt(header.length), true);
      result.set(header, 8);
      result.set(out.subarray(headerEnd), 8 + header.length);
      return result;
    }
    default: // splice: a random slice repeated
    {
      const a = int(random, out.length);
      const b = Math.min(out.length, a + int(random, 32));
      return Uint8Array.from([...out.subarray(0, b), ...out.subarray(a, b), ...out.subarray(b)]);
    }
  }
}

Deno.test(`fuzz: ${CASES} mutated updates never crash the decoder or make the endpoint fail`, async () => {
  const model = await buildModel(task.model.topology);
  const errors: unknown[] = [];
  const federation = await Federation.create({ task, model, onError: (e) => errors.push(e) });
  const registry = new TaskRegistry();
  registry.register(federation);
  const app = createApp(registry, { onInternalError: (e) => errors.push(e) });
  const random = seededRandom(SEED);
  const statuses = new Map<number, number>();
  try {
    for (let i = 0; i < CASES; i++) {
      const bytes = mutate(validUpdate(federation, `c${i}`), random);
      try {
        decodeSafetensors(bytes);
      } catch (error) {
        assert.ok(error instanceof SafetensorsError, `case ${i}: ${error}`);
      }
      const res = await app.request("/v1/updates", {
        method: "POST",
        headers: { "Content-Type": "application/octet-stream" },
        body: bytes as Uint8Array<ArrayBuffer>,
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      assert.ok(
        res.status === 202 || (res.status >= 400 && res.status < 500),
        `case ${i}: ${res.status}`,
      );
      if (res.status !== 202) ErrorResponseSchema.parse(await res.json());
      else await res.body?.cancel();
    }
    assert.deepEqual(errors, []);
    // The mutations reach past the first check: both refusals and acceptances occur.
    assert.ok((statuses.get(400) ?? 0) > CASES / 4, JSON.stringify([...statuses]));
    assert.ok((statuses.get(202) ?? 0) > 0, JSON.stringify([...statuses]));
    // Each 202 is an update held in the round, or a resend of one (a mutated
    // client id can repeat an earlier case's bytes exactly).
    assert.ok(federation.status().received <= statuses.get(202)!);
    assert.ok(federation.status().received > 0);
  } finally {
    federation.close();
    model.dispose();
  }
});

Deno.test(`fuzz: ${CASES} mutated compressed updates decode or fail with a reason`, () => {
  const random = seededRandom(SEED + 1);
  const weights = [{ name: "w", shape: [40, 6] }, { name: "b", shape: [6] }];
  const delta = new Map<string, Float32Tensor>(weights.map(({ name, shape }) => [name, {
    shape,
    data: Float32Array.from({ length: elementCount(shape) }, () => random() - 0.5),
  }]));
  const codecs = [
    UpdateCodecSchema.parse({ kind: "int8", chunk: 16 }),
    UpdateCodecSchema.parse({ kind: "topk", fraction: 0.1 }),
    UpdateCodecSchema.parse({ kind: "topk", count: 5, values: "f16" }),
    UpdateCodecSchema.parse("f16"),
  ];
  const outcomes = { decoded: 0, refused: 0 };
  for (let i = 0; i < CASES; i++) {
    const codec = codecs[i % codecs.length]!;
    const bytes = mutate(encodeUpdate(delta, codec, { round: "1" }), random);
    try {
      const { tensors } = decodeUpdate(bytes, weights);
      assert.deepEqual(tensors.map((t) => t.length), [240, 6]);
      outcomes.decoded++;
    } catch (error) {
      assert.ok(
        error instanceof SafetensorsError || error instanceof CodecError,
        `case ${i} (${codec.kind}): ${error}`,
      );
      outcomes.refused++;
    }
  }
  assert.ok(outcomes.decoded > 0 && outcomes.refused > CASES / 4, JSON.stringify(outcomes));
});
