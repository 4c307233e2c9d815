import assert from "node:assert/strict";
import {
  CodecError,
  decodeHalf,
  decodeUpdate,
  encodeHalf,
  encodeUpdate,
  ErrorFeedback,
  topKIndices,
} from "./codec.ts";
import { seededRandom } from "../random.ts";
import { encodeSafetensorsRaw, type Float32Tensor, type RawTensor } from "./safetensors.ts";
import { type UpdateCodec, UpdateCodecSchema } from "../schemas/mod.ts";
import { elementCount } from "../shape.ts";

const random = seededRandom(11);
const gaussian = () => {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
};

// The shapes of mnist-mlp's trainable weights.
const WEIGHTS = [
  { name: "dense1/kernel", shape: [784, 256] },
  { name: "dense1/bias", shape: [256] },
  { name: "dense2/kernel", shape: [256, 256] },
  { name: "dense2/bias", shape: [256] },
  { name: "logits/kernel", shape: [256, 10] },
  { name: "logits/bias", shape: [10] },
];

function delta(scale = 0.01): Map<string, Float32Tensor> {
  return new Map(WEIGHTS.map(({ name, shape }) => {
    const data = new Float32Array(elementCount(shape));
    for (let i = 0; i < data.length; i++) data[i] = scale * gaussian();
    return [name, { shape, data }];
  }));
}

const codec = (value: unknown): UpdateCodec => UpdateCodecSchema.parse(value);

Deno.test("f32 round-trips exactly", () => {
  const d = delta();
  const { tensors, codec: kind } = decodeUpdate(encodeUpdate(d, codec("f32"), {}), WEIGHTS);
  assert.equal(kind, "f32");
  WEIGHTS.forEach(({ name }, i) => assert.deepEqual(tensors[i], d.get(name)!.data));
});

Deno.test("f16 keeps every value within half precision; the fallback matches the native bits", () => {
  const d = delta();
  const { tensors } = decodeUpdate(encodeUpdate(d, codec("f16"), {}), WEIGHTS);
  WEIGHTS.forEach(({ name }, w) => {
    const original = d.get(name)!.data;
    for (let i = 0; i < original.length; i++) {
      const x = original[i]!;
      // Relative error 2^-11 for normal halves, absolute 2^-25 below them.
      assert.ok(Math.abs(tensors[w]![i]! - x) <= Math.max(Math.abs(x) * 2 ** -11, 2 ** -25));
    }
  });
  const edge = Float32Array.of(
    0,
    -0,
    1,
    -1,
    65504,
    70000,
    -70000,
    1e-7,
    6e-8,
    3e-8,
    0.1,
    1 / 3,
    NaN,
  );
  const native = encodeHalf(edge);
  const fallback = encodeHalf(edge, { native: false });
  assert.deepEqual([...fallback], [...native]);
  const back = decodeHalf(native, { native: false });
  assert.deepEqual([...back].map(String), [...decodeHalf(native)].map(String));
  assert.equal(back[5], Infinity);
});

Deno.test("int8 keeps every value within one step of its chunk; zero is exact", () => {
  for (const chunk of [4096, 0, 100]) {
    const d = delta();
    d.get("dense1/bias")!.data.fill(0);
    const { tensors } = decodeUpdate(encodeUpdate(d, codec({ kind: "int8", chunk }), {}), WEIGHTS);
    WEIGHTS.forEach(({ name }, w) => {
      const original = d.get(name)!.data;
      const size = chunk > 0 ? chunk : original.length;
      for (let begin = 0; begin < original.length; begin += size) {
        const part = original.subarray(begin, begin + size);
        const lo = part.reduce((m, v) => Math.min(m, v), 0);
        const hi = part.reduce((m, v) => Math.max(m, v), 0);
        const step = (hi - lo) / 255;
        for (let i = 0; i < part.length; i++) {
          const error = Math.abs(tensors[w]![begin + i]! - part[i]!);
          assert.ok(
            error <= step * 1.0001 + 1e-12,
            `${name}[${begin + i}] off by ${error} > ${step}`,
          );
        }
      }
    });
    assert.ok(tensors[1]!.every((v) => v === 0));
  }
});

Deno.test("top-k keeps the k largest magnitudes at their places and zeros elsewhere", () => {
  const values = Float32Array.of(0.5, -3, 0.1, 2, -2, 0, 7, -0.2);
  assert.deepEqual([...topKIndices(values, 3)], [1, 3, 6]);
  // Ties at the threshold: the first ones win, k exactly.
  assert.deepEqual([...topKIndices(Float32Array.of(1, -1, 1, 1), 2)], [0, 1]);
  const d = delta();
  const k = codec({ kind: "topk", fraction: 0.05, values: "f32" });
  const { tensors } = decodeUpdate(encodeUpdate(d, k, {}), WEIGHTS);
  WEIGHTS.forEach(({ name }, w) => {
    const original = d.get(name)!.data;
    const keep = Math.max(1, Math.round(0.05 * original.length));
    const threshold = [...original].map(Math.abs).sort((a, b) => b - a)[keep - 1]!;
    let kept = 0;
    for (let i = 0; i < original.length; i++) {
      if (tensors[w]![i] !== 0) {
        kept++;
        assert.equal(tensors[w]![i], original[i]);
        assert.ok(Math.abs(original[i]!) >= threshold);
      }
    }
    assert.equal(kept, keep);
  });
});

Deno.test("error feedback: what was sent plus the residual sums to the true updates", () => {
  for (
    const c of [
      codec({ kind: "topk", fraction: 0.01, values: "int8" }),
      codec("int8"),
      codec("f16"),
    ]
  ) {
    const feedback = new ErrorFeedback();
    const truth = WEIGHTS.map(({ shape }) => new Float64Array(elementCount(shape)));
    const sent = WEIGHTS.map(({ shape }) => new Float64Array(elementCount(shape)));
    for (let step = 0; step < 5; step++) {
      const d = delta();
      WEIGHTS.forEach(({ name }, w) => d.get(name)!.data.forEach((v, i) => (truth[w]![i]! += v)));
      const { tensors } = decodeUpdate(encodeUpdate(d, c, {}, feedback), WEIGHTS);
      tensors.forEach((t, w) => t.forEach((v, i) => (sent[w]![i]! += v)));
    }
    WEIGHTS.forEach(({ name }, w) => {
      const residual = feedback.residual(name, truth[w]!.length);
      let worst = 0;
      for (let i = 0; i < residual.length; i++) {
        worst = Math.max(worst, Math.abs(sent[w]![i]! + residual[i]! - truth[w]![i]!));
      }
      assert.ok(worst < 1e-6, `${c.kind} ${name}: off by ${worst}`);
    });
  }
});

Deno.test("int8 is at most 26% of f32's bytes, top-k 1% with int8 values under 3%", () => {
  const d = delta();
  const f32 = encodeUpdate(d, codec("f32"), { round: "1" }).length;
  const int8 = encodeUpdate(d, codec("int8"), { round: "1" }).length;
  const topk = encodeUpdate(d, codec({ kind: "topk", fraction: 0.01 }), { round: "1" }).length;
  assert.ok(int8 / f32 <= 0.26, `int8 ${int8 / f32}`);
  assert.ok(topk / f32 < 0.03, `topk ${topk / f32}`);
});

/** A one-weight top-k update with the given parts. */
function topkBytes(parts: [string, RawTensor][], meta: Record<string, string> = {}): Uint8Array {
  return encodeSafetensorsRaw(parts, { codec: "topk", values: "f32", ...meta });
}
const W = [{ name: "w", shape: [10] }];

Deno.test("malformed compressed updates are refused with a reason", async (t) => {
  const i32 = (...v: number[]) => ({ dtype: "I32", shape: [v.length], data: Int32Array.from(v) });
  const f32 = (...v: number[]) => ({ dtype: "F32", shape: [v.length], data: Float32Array.from(v) });
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "index out of range",
      topkBytes([["w#indices", i32(2, 10)], ["w#values", f32(1, 2)]]),
      /holds 10 at 1, outside \[0, 10\)/,
    ],
    ["negative index", topkBytes([["w#indices", i32(-1, 3)], ["w#values", f32(1, 2)]]), /holds -1/],
    [
      "duplicate indices",
      topkBytes([["w#indices", i32(3, 3)], ["w#values", f32(1, 2)]]),
      /repeats index 3/,
    ],
    [
      "decreasing indices",
      topkBytes([["w#indices", i32(5, 3)], ["w#values", f32(1, 2)]]),
      /not increasing/,
    ],
    [
      "more indices than elements",
      topkBytes([["w#indices", i32(...Array.from({ length: 11 }, (_, i) => i))], [
        "w#values",
        f32(...new Array(11).fill(1)),
      ]]),
      /11 entries for 10/,
    ],
    [
      "values and indices disagree",
      topkBytes([["w#indices", i32(1, 2)], ["w#values", f32(1)]]),
      /1 elements, expected 2/,
    ],
    ["missing values", topkBytes([["w#indices", i32(1, 2)]]), /"w#values" is missing/],
    [
      "indices as F32",
      topkBytes([["w#indices", f32(1, 2)], ["w#values", f32(1, 2)]]),
      /dtype "F32", expected "I32"/,
    ],
    [
      "an extra tensor",
      topkBytes([["w#indices", i32(1)], ["w#values", f32(1)], ["w#bogus", f32(1)]]),
      /"w#bogus" is not part/,
    ],
    [
      "no values codec",
      encodeSafetensorsRaw([["w#indices", i32(1)], ["w#values", f32(1)]], { codec: "topk" }),
      /metadata "values"/,
    ],
    [
      "unknown codec",
      encodeSafetensorsRaw([["w", f32(...new Array(10).fill(0))]], { codec: "zip" }),
      /unknown codec "zip"/,
    ],
    [
      "int8 scale NaN",
      encodeSafetensorsRaw([["w", { dtype: "I8", shape: [10], data: new Int8Array(10) }], [
        "w#scale",
        f32(NaN),
      ], ["w#zero_point", f32(0)]], { codec: "int8", chunk: "4096" }),
      /"w#scale" holds "NaN"/,
    ],
    [
      "int8 scale 0",
      encodeSafetensorsRaw([["w", { dtype: "I8", shape: [10], data: new Int8Array(10) }], [
        "w#scale",
        f32(0),
      ], ["w#zero_point", f32(0)]], { codec: "int8", chunk: "4096" }),
      /finite and positive/,
    ],
    [
      "int8 zero point 0.5",
      encodeSafetensorsRaw([["w", { dtype: "I8", shape: [10], data: new Int8Array(10) }], [
        "w#scale",
        f32(1),
      ], ["w#zero_point", f32(0.5)]], { codec: "int8", chunk: "4096" }),
      /integer in \[-128, 127\]/,
    ],
    [
      "int8 chunk not a number",
      encodeSafetensorsRaw([["w", { dtype: "I8", shape: [10], data: new Int8Array(10) }], [
        "w#scale",
        f32(1),
      ], ["w#zero_point", f32(0)]], { codec: "int8", chunk: "big" }),
      /"chunk" must be/,
    ],
    [
      "int8 scales for the wrong number of chunks",
      encodeSafetensorsRaw([["w", { dtype: "I8", shape: [10], data: new Int8Array(10) }], [
        "w#scale",
        f32(1, 1),
      ], ["w#zero_point", f32(0, 0)]], { codec: "int8", chunk: "4096" }),
      /2 elements, expected 1/,
    ],
  ];
  for (const [name, bytes, message] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => decodeUpdate(bytes, W),
        (e) => e instanceof CodecError && message.test(e.message),
      );
    });
  }
});
