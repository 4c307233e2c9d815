import assert from "node:assert/strict";
import { assembleKernels, kernelsSource } from "../../tools/build_kernels.ts";
import { SIMD_KERNELS_BASE64 } from "./_simd_kernels_wasm.ts";

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
    ["adam", "dropoutMultiplier"],
  );
  assert.deepEqual(WebAssembly.Module.imports(module), [
    { module: "env", name: "memory", kind: "memory" },
  ]);
});
