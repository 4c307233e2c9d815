import assert from "node:assert/strict";
import { assembleKernels, kernelsSource } from "../../tools/build_kernels.ts";
import { MATMUL_KERNELS_BASE64 } from "./_matmul_kernels_wasm.ts";
import { SIMD_KERNELS_BASE64 } from "./_simd_kernels_wasm.ts";
import { SOFTMAX_KERNELS_BASE64 } from "./_softmax_kernels_wasm.ts";

// The embedded binary is what `deno task build-kernels` makes of the .wat
// source today, so the two cannot drift apart.
Deno.test("the embedded SIMD kernels are the assembled _simd_kernels.wat", async () => {
  const bytes = await assembleKernels();
  assert.equal(btoa(String.fromCharCode(...bytes)), SIMD_KERNELS_BASE64);
  const embedded = await Deno.readTextFile(new URL("./_simd_kernels_wasm.ts", import.meta.url));
  assert.equal(embedded.replace(/\s+/g, ""), kernelsSource(bytes).replace(/\s+/g, ""));
  const module = new WebAssembly.Module(bytes);
  assert.deepEqual(
    WebAssembly.Module.exports(module).map((e) => e.name).sort(),
    [
      "adam",
      "dropoutMultiplier",
      "geluBackward",
      "geluForward",
      "layerNormBackward",
      "layerNormForward",
    ],
  );
  assert.deepEqual(WebAssembly.Module.imports(module), [
    { module: "env", name: "memory", kind: "memory" },
  ]);
});

for (
  const [name, base64, exports] of [
    ["matmul", MATMUL_KERNELS_BASE64, ["columnSum", "gemm", "gemmTN", "mul", "transpose"]],
    ["softmax", SOFTMAX_KERNELS_BASE64, [
      "rdropBackward",
      "rdropRows",
      "rowMaxSumExp",
      "softmaxRows",
      "softmaxRowsBackward",
    ]],
  ] as const
) {
  Deno.test(`the embedded ${name} kernels are the assembled _${name}_kernels.wat`, async () => {
    const bytes = await assembleKernels(name);
    assert.equal(btoa(String.fromCharCode(...bytes)), base64);
    const embedded = await Deno.readTextFile(
      new URL(`./_${name}_kernels_wasm.ts`, import.meta.url),
    );
    assert.equal(embedded.replace(/\s+/g, ""), kernelsSource(bytes, name).replace(/\s+/g, ""));
    const module = new WebAssembly.Module(bytes);
    assert.deepEqual(WebAssembly.Module.exports(module).map((e) => e.name).sort(), [...exports]);
  });
}
