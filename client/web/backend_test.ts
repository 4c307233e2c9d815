// The page's backend choice, checked where it can run outside a browser:
// forcing works or fails clearly, never silently falls back. The browser
// tests (test/browser_test.ts) check the automatic order in Chromium.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { startWebBackend } from "./backend.ts";

Deno.test("a forced backend starts and is reported", async () => {
  const info = await startWebBackend({ force: "cpu" });
  assert.deepEqual(info, { name: "cpu", device: null, skipped: [] });
  assert.equal(tf.getBackend(), "cpu");
});

Deno.test("forcing a backend that cannot start is an error, not a fallback", async () => {
  // Deno has no WebGL.
  await assert.rejects(() => startWebBackend({ force: "webgl" }), /Cannot start backend "webgl"/);
  await assert.rejects(
    () => startWebBackend({ force: "metal" as "cpu" }),
    /expected one of webgpu, webgl, wasm, cpu/,
  );
});
