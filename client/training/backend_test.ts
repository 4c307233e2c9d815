import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { GpuLike } from "./gpu_adapter.ts";
import { type BackendName, startBackend, webgpuPassedOver } from "./backend.ts";
import { elementCount } from "../../shared/shape.ts";

type Matrix = number[][];

/** A deterministic tensor of `shape` with values in [-1, 1). */
function filled(shape: number[], seed: number): tf.Tensor {
  const size = elementCount(shape);
  let state = seed >>> 0 || 1;
  const data = Float32Array.from({ length: size }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
  return tf.tensor(data, shape, "float32");
}

function transpose(m: Matrix): Matrix {
  return m[0]!.map((_, j) => m.map((row) => row[j]!));
}

/** op(a) · op(b) with a plain triple loop, in float64. */
function reference(a: Matrix, b: Matrix, transposeA: boolean, transposeB: boolean): Matrix {
  const left = transposeA ? transpose(a) : a;
  const right = transposeB ? transpose(b) : b;
  const inner = right.length;
  assert.equal(left[0]!.length, inner, "reference: inner dimensions differ");
  return left.map((row) =>
    right[0]!.map((_, j) => {
      let sum = 0;
      for (let k = 0; k < inner; k++) sum += row[k]! * right[k]![j]!;
      return sum;
    })
  );
}

function assertClose(actual: unknown, expected: unknown, path = "") {
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected an array, got ${actual}`);
    assert.equal(actual.length, expected.length, `${path}: length`);
    expected.forEach((e, i) => assertClose(actual[i], e, `${path}[${i}]`));
    return;
  }
  const a = actual as number;
  const e = expected as number;
  assert.ok(
    Math.abs(a - e) <= 1e-4 * Math.max(1, Math.abs(e)),
    `${path}: expected ${e}, got ${a}`,
  );
}

const backend = await startBackend("wasm");

Deno.test("startBackend() starts wasm and makes it the active backend", () => {
  assert.deepEqual(backend, {
    name: "wasm",
    device: "WebAssembly SIMD",
    runtime: `deno ${Deno.version.deno}`,
    skipped: [],
  });
  assert.equal(tf.getBackend(), "wasm");
  // The BatchMatMul kernel is the transposing wrapper, not the stock one
  // (whose function is named "batchMatMul").
  const kernel = tf.getKernel("BatchMatMul", "wasm");
  assert.ok(kernel);
  assert.notEqual(kernel.kernelFunc.name, "batchMatMul");
  // Likewise GatherV2 is the slice-copying kernel, not the stock "gatherV2".
  assert.notEqual(tf.getKernel("GatherV2", "wasm")?.kernelFunc.name, "gatherV2");
});

Deno.test("startBackend() throws a TypeError on an unknown backend name", async () => {
  await assert.rejects(
    () => startBackend("metal" as BackendName),
    (error: unknown) =>
      error instanceof TypeError && error.message.includes('"metal"') &&
      error.message.includes("auto or one of tensorflow, webgpu, wasm, cpu"),
  );
  // The failed call changed nothing.
  assert.equal(tf.getBackend(), "wasm");
});

Deno.test("a forced backend that cannot start is an error with the reason, not a fallback", async () => {
  // Under Deno, libtensorflow's bindings are not loaded.
  await assert.rejects(
    () => startBackend("tensorflow"),
    /Cannot start backend "tensorflow": .*npm install @tensorflow\/tfjs-node-gpu@4\.22\.0/,
  );
  assert.equal(tf.getBackend(), "wasm");
});

Deno.test("the WebGPU rule: auto takes a hardware adapter and passes over a software one or none", () => {
  const adapters = {
    nvidia: { info: { vendor: "nvidia", architecture: "hopper", description: "NVIDIA H100" } },
    apple: { info: { vendor: "apple", architecture: "metal-3", description: "" } },
    llvmpipe: { info: { vendor: "mesa", description: "llvmpipe (LLVM 15.0.6, 256 bits)" } },
    swiftshader: { info: { vendor: "google", architecture: "swiftshader", description: "" } },
    fallback: { info: { vendor: "intel", description: "" }, isFallbackAdapter: true },
  };
  assert.equal(webgpuPassedOver(adapters.nvidia, { auto: true }), null);
  assert.equal(webgpuPassedOver(adapters.apple, { auto: true }), null);
  for (const name of ["llvmpipe", "swiftshader", "fallback"] as const) {
    assert.match(
      webgpuPassedOver(adapters[name], { auto: true }) ?? "taken",
      /^only a software adapter \(.*\(software\)\), slower than wasm/,
      name,
    );
    // Forced, any adapter is taken.
    assert.equal(webgpuPassedOver(adapters[name], { auto: false }), null, name);
  }
  assert.match(webgpuPassedOver(null, { auto: true })!, /no WebGPU adapter/);
  assert.match(webgpuPassedOver(null, { auto: false })!, /no WebGPU adapter/);
});

Deno.test("auto passes over what cannot start, says why, and reports the runtime", async () => {
  // What this machine's WebGPU offers decides, by the rule tested above.
  const gpu = (navigator as { gpu?: GpuLike }).gpu;
  const adapter = gpu ? await gpu.requestAdapter() : null;
  const webgpu = gpu ? webgpuPassedOver(adapter, { auto: true }) === null : false;
  const info = await startBackend("auto");
  assert.equal(info.skipped[0]?.name, "tensorflow");
  assert.match(info.skipped[0]!.reason, /only under Node\.js/);
  assert.equal(info.name, webgpu ? "webgpu" : "wasm");
  if (!webgpu) {
    assert.match(info.skipped.find((s) => s.name === "webgpu")?.reason ?? "", /software|adapter/);
  }
  assert.match(info.runtime, /^deno \d/);
  if (webgpu) await startBackend("wasm");
});

Deno.test("startBackend() is idempotent: a second wasm start keeps matMul correct", async () => {
  assert.equal((await startBackend("wasm")).name, "wasm");
  tf.tidy(() => {
    const a = filled([3, 4], 7);
    const b = filled([3, 2], 8);
    const expected = reference(a.arraySync() as Matrix, b.arraySync() as Matrix, true, false);
    assertClose(tf.matMul(a, b, true, false).arraySync(), expected);
  });
});

const COMBINATIONS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [
  true,
  true,
]];

Deno.test("tf.matMul() on wasm matches a triple-loop reference for rank-2 inputs", async (t) => {
  const [m, k, n] = [5, 3, 4];
  for (const [ta, tb] of COMBINATIONS) {
    await t.step(`transposeA=${ta} transposeB=${tb}`, () => {
      tf.tidy(() => {
        const a = filled(ta ? [k, m] : [m, k], 11);
        const b = filled(tb ? [n, k] : [k, n], 12);
        const out = tf.matMul(a, b, ta, tb);
        assert.deepEqual(out.shape, [m, n]);
        const expected = reference(a.arraySync() as Matrix, b.arraySync() as Matrix, ta, tb);
        assertClose(out.arraySync(), expected);
        // The inputs are intact after the product (no temporary aliased them).
        assert.deepEqual(a.shape, ta ? [k, m] : [m, k]);
        assertClose(a.arraySync(), filled(a.shape, 11).arraySync());
        assertClose(b.arraySync(), filled(b.shape, 12).arraySync());
      });
    });
  }
});

Deno.test("tf.matMul() on wasm matches the reference for a rank-3 batched product", async (t) => {
  const [batch, m, k, n] = [2, 5, 3, 4];
  for (const [ta, tb] of COMBINATIONS) {
    await t.step(`transposeA=${ta} transposeB=${tb}`, () => {
      tf.tidy(() => {
        const a = filled(ta ? [batch, k, m] : [batch, m, k], 21);
        const b = filled(tb ? [batch, n, k] : [batch, k, n], 22);
        const out = tf.matMul(a, b, ta, tb);
        assert.deepEqual(out.shape, [batch, m, n]);
        const as = a.arraySync() as Matrix[];
        const bs = b.arraySync() as Matrix[];
        const expected = as.map((ai, i) => reference(ai, bs[i]!, ta, tb));
        assertClose(out.arraySync(), expected);
      });
    });
  }
});

Deno.test("tf.matMul() on wasm broadcasts a rank-2 operand over a rank-3 batch", async (t) => {
  const [batch, m, k, n] = [2, 5, 3, 4];
  for (const [ta, tb] of COMBINATIONS) {
    await t.step(`transposeA=${ta} transposeB=${tb}`, () => {
      tf.tidy(() => {
        const a = filled(ta ? [batch, k, m] : [batch, m, k], 25);
        const b = filled(tb ? [n, k] : [k, n], 26);
        const out = tf.matMul(a, b, ta, tb);
        assert.deepEqual(out.shape, [batch, m, n]);
        const bs = b.arraySync() as Matrix;
        const expected = (a.arraySync() as Matrix[]).map((ai) => reference(ai, bs, ta, tb));
        assertClose(out.arraySync(), expected);
      });
    });
  }
});

Deno.test("tf.matMul() on wasm handles size-1 dimensions under a transpose", async (t) => {
  // Swapping the last two axes of a [1, k] or [k, 1] matrix is a no-op for the
  // wasm Transpose kernel (it aliases its input), so the temporary must not free
  // the caller's tensor.
  const cases: [number[], number[], boolean, boolean][] = [
    [[1, 3], [1, 3], true, false], // a^T: [3, 1] x [1, 3]
    [[4, 3], [1, 3], false, true], // b^T: [4, 3] x [3, 1]
    [[3, 1], [3, 1], true, false], // a^T: [1, 3] x [3, 1]
    [[1, 3], [4, 1], true, true], // [3, 1] x [1, 4]
  ];
  for (const [aShape, bShape, ta, tb] of cases) {
    await t.step(`[${aShape}] x [${bShape}] transposeA=${ta} transposeB=${tb}`, () => {
      const a = filled(aShape, 31);
      const b = filled(bShape, 32);
      try {
        const aValues = a.arraySync() as Matrix;
        const bValues = b.arraySync() as Matrix;
        const out = tf.matMul(a, b, ta, tb);
        assertClose(out.arraySync(), reference(aValues, bValues, ta, tb));
        out.dispose();
        // Still readable and unchanged afterwards, and usable again.
        assertClose(a.arraySync(), aValues);
        assertClose(b.arraySync(), bValues);
        const again = tf.matMul(a, b, ta, tb);
        assertClose(again.arraySync(), reference(aValues, bValues, ta, tb));
        again.dispose();
      } finally {
        a.dispose();
        b.dispose();
      }
    });
  }
});

Deno.test("tf.grad() of sum(matMul(x, w)) wrt w on wasm is x^T · ones", () => {
  tf.tidy(() => {
    const [batch, inputs, units] = [6, 5, 3];
    const x = filled([batch, inputs], 41);
    const w = filled([inputs, units], 42);
    const dw = tf.grad((v: tf.Tensor) => tf.matMul(x, v).sum())(w);
    assert.deepEqual(dw.shape, [inputs, units]);
    const ones = Array.from({ length: batch }, () => new Array(units).fill(1));
    assertClose(dw.arraySync(), reference(x.arraySync() as Matrix, ones, true, false));
    // And the gradient wrt x is ones · w^T (transposeB in the backward pass).
    const dx = tf.grad((v: tf.Tensor) => tf.matMul(v, w).sum())(x);
    assertClose(dx.arraySync(), reference(ones, w.arraySync() as Matrix, false, true));
  });
});

Deno.test("tf.grad() through a dense-like layer on wasm matches the reference", () => {
  tf.tidy(() => {
    const [batch, inputs, units] = [4, 3, 2];
    const x = filled([batch, inputs], 51);
    const w = filled([inputs, units], 52);
    const bias = filled([units], 53);
    // loss = sum(relu-free dense output * c) with a fixed c, so dloss/dw = x^T · c.
    const c = filled([batch, units], 54);
    const variable = tf.variable(w, true, "w_dense_test");
    const { grads } = tf.variableGrads(() => tf.matMul(x, variable).add(bias).mul(c).sum(), [
      variable,
    ]);
    const dw = grads["w_dense_test"];
    assert.ok(dw);
    assertClose(
      dw.arraySync(),
      reference(x.arraySync() as Matrix, c.arraySync() as Matrix, true, false),
    );
  });
  // tf.variable() registered a variable outside tidy's reach; drop it.
  tf.disposeVariables();
});

Deno.test("tf.matMul() with a transpose on wasm leaks no tensor and no byte", async (t) => {
  for (const [ta, tb] of COMBINATIONS) {
    await t.step(`transposeA=${ta} transposeB=${tb}`, () => {
      const a = filled(ta ? [7, 9] : [9, 7], 61);
      const b = filled(tb ? [5, 7] : [7, 5], 62);
      try {
        // Warm up once, so lazily created state does not count as a leak.
        tf.tidy(() => tf.matMul(a, b, ta, tb));
        const before = tf.memory();
        const dataIds = tf.backend().numDataIds();
        const sum = tf.tidy(() => tf.matMul(a, b, ta, tb).sum().arraySync());
        assert.ok(Number.isFinite(sum));
        const after = tf.memory();
        assert.equal(after.numTensors, before.numTensors);
        assert.equal(after.numDataBuffers, before.numDataBuffers);
        assert.equal(after.numBytes, before.numBytes);
        // The transposed temporaries live in the backend only; they are freed too.
        assert.equal(tf.backend().numDataIds(), dataIds);
      } finally {
        a.dispose();
        b.dispose();
      }
    });
  }
});

Deno.test("tf.grad() through a transposed matMul on wasm leaks no tensor and no byte", () => {
  const x = filled([8, 6], 71);
  const w = filled([6, 4], 72);
  try {
    const run = () => tf.tidy(() => tf.grad((v: tf.Tensor) => tf.matMul(x, v).sum())(w).sum());
    run().dispose();
    const before = tf.memory();
    const dataIds = tf.backend().numDataIds();
    run().dispose();
    const after = tf.memory();
    assert.equal(after.numTensors, before.numTensors);
    assert.equal(after.numBytes, before.numBytes);
    assert.equal(tf.backend().numDataIds(), dataIds);
  } finally {
    x.dispose();
    w.dispose();
  }
});

/** dL/dfilter of sum(conv2d(x, filter) * dy) by direct loops, in float64 (NHWC, HWIO). */
function conv2dFilterGradReference(
  x: number[][][][],
  dy: number[][][][],
  kernel: [number, number],
  stride: number,
  padTop: number,
  padLeft: number,
): number[][][][] {
  const [kh, kw] = kernel;
  const cin = x[0]![0]![0]!.length;
  const cout = dy[0]![0]![0]!.length;
  const out = Array.from(
    { length: kh },
    () =>
      Array.from({ length: kw }, () => Array.from({ length: cin }, () => new Array(cout).fill(0))),
  );
  x.forEach((image, n) => {
    dy[n]!.forEach((row, oh) =>
      row.forEach((grad, ow) => {
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const ih = oh * stride + i - padTop;
            const iw = ow * stride + j - padLeft;
            if (ih < 0 || iw < 0 || ih >= image.length || iw >= image[0]!.length) continue;
            for (let c = 0; c < cin; c++) {
              for (let o = 0; o < cout; o++) {
                out[i]![j]![c]![o] += image[ih]![iw]![c]! * grad[o]!;
              }
            }
          }
        }
      })
    );
  });
  return out;
}

Deno.test("tf.grad() of conv2d's filter on wasm matches direct loops", async (t) => {
  const cases = [
    { pad: "valid" as const, stride: 1, shape: [2, 6, 5, 3], kernel: [3, 3] as [number, number] },
    { pad: "valid" as const, stride: 2, shape: [1, 7, 7, 2], kernel: [3, 2] as [number, number] },
    { pad: "same" as const, stride: 1, shape: [2, 5, 5, 1], kernel: [3, 3] as [number, number] },
  ];
  for (const { pad, stride, shape, kernel } of cases) {
    await t.step(`${pad}, stride ${stride}`, () => {
      const x = filled(shape, 5) as tf.Tensor4D;
      const filter = filled([...kernel, shape[3]!, 4], 6) as tf.Tensor4D;
      const out = tf.conv2d(x, filter, stride, pad);
      const dy = filled(out.shape, 7) as tf.Tensor4D;
      const grad = tf.grad((f: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(x, f as tf.Tensor4D, stride, pad), dy))
      )(
        filter,
      );
      const padTop = pad === "same" ? Math.floor((kernel[0] - 1) / 2) : 0;
      const padLeft = pad === "same" ? Math.floor((kernel[1] - 1) / 2) : 0;
      const expected = conv2dFilterGradReference(
        x.arraySync(),
        dy.arraySync(),
        kernel,
        stride,
        padTop,
        padLeft,
      );
      assertClose(grad.arraySync(), expected);
      tf.dispose([x, filter, out, dy, grad]);
    });
  }
});

Deno.test("tf.grad() of a gather (an embedding lookup) on wasm adds the rows of repeated ids", () => {
  const table = filled([6, 3], 11) as tf.Tensor2D;
  const ids = tf.tensor2d([[1, 3, 1], [0, 5, 1]], [2, 3], "int32");
  const dy = filled([2, 3, 3], 12);
  const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), dy)))(table);
  const expected = Array.from({ length: 6 }, () => [0, 0, 0]);
  const idRows = ids.arraySync();
  const dyRows = dy.arraySync() as number[][][];
  idRows.forEach((row, i) =>
    row.forEach((id, j) => dyRows[i]![j]!.forEach((v, k) => (expected[id]![k]! += v)))
  );
  assertClose(grad.arraySync(), expected);
  tf.dispose([table, ids, dy, grad]);
});

/** tf.gather by direct index arithmetic over nested arrays (axis and batchDims as tfjs defines them). */
function gatherReference(x: tf.Tensor, indices: tf.Tensor, axis: number, batchDims: number) {
  const xs = x.arraySync() as unknown;
  const is = indices.arraySync() as unknown;
  const pick = (value: unknown, idx: unknown, depth: number): unknown => {
    // Descend through the batch dimensions of x and indices together.
    if (depth < batchDims) {
      return (value as unknown[]).map((v, b) => pick(v, (idx as unknown[])[b], depth + 1));
    }
    // Then the outer dimensions of x, up to the axis.
    const atAxis = (v: unknown, d: number): unknown =>
      d < axis ? (v as unknown[]).map((w) => atAxis(w, d + 1)) : take(v as unknown[], idx);
    return atAxis(value, depth);
  };
  const take = (rows: unknown[], idx: unknown): unknown =>
    Array.isArray(idx) ? idx.map((i) => take(rows, i)) : rows[idx as number];
  return pick(xs, is, 0);
}

Deno.test("tf.gather() on wasm matches direct indexing for every axis, batchDims and dtype", async (t) => {
  const cases = [
    { shape: [800, 784], idx: [[5, 799, 0, 5, 13]], idxShape: [5], axis: 0, batchDims: 0 },
    { shape: [4, 6, 3], idx: [[2, 0, 5, 5]], idxShape: [4], axis: 1, batchDims: 0 },
    { shape: [4, 6, 3], idx: [[2, 0]], idxShape: [2], axis: 2, batchDims: 0 },
    { shape: [9, 4], idx: [[1, 8, 3], [0, 0, 2]], idxShape: [2, 3], axis: 0, batchDims: 0 },
    { shape: [2, 5, 3], idx: [[4, 0, 1], [3, 3, 2]], idxShape: [2, 3], axis: 1, batchDims: 1 },
  ];
  for (const { shape, idx, idxShape, axis, batchDims } of cases) {
    for (const dtype of ["float32", "int32"] as const) {
      await t.step(`[${shape}] axis ${axis} batchDims ${batchDims} ${dtype}`, () => {
        tf.tidy(() => {
          const x = filled(shape, 81).mul(100).cast(dtype);
          const indices = tf.tensor(idx.flat(), idxShape, "int32");
          const out = tf.gather(x, indices, axis, batchDims);
          assert.equal(out.dtype, dtype);
          assert.deepEqual(out.arraySync(), gatherReference(x, indices, axis, batchDims));
        });
      });
    }
  }
  await t.step("an index out of range is an error naming it", () => {
    tf.tidy(() => {
      const x = filled([3, 2], 82);
      assert.throws(
        () => tf.gather(x, tf.tensor1d([0, 3], "int32")),
        /index value 3 is not in \[0, 2\]/,
      );
    });
  });
});
