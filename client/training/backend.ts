/**
 * Choosing and starting the tfjs backend of a Deno or Node.js client, one
 * module for both. `auto` tries, in order:
 *
 * 1. `tensorflow`: libtensorflow through `@tensorflow/tfjs-node-gpu` (CUDA),
 *    else `@tensorflow/tfjs-node` (CPU), imported only where installed
 *    (Node.js; they are never dependencies of the project);
 * 2. `webgpu` on a hardware adapter (Deno's own WebGPU, or the `webgpu` npm
 *    package under Node.js); a software adapter is passed over, being slower
 *    than wasm on the same CPU;
 * 3. `wasm`;
 * 4. `cpu` (pure JavaScript).
 *
 * Forcing a backend that cannot start is an error that says why, never a
 * silent fallback.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { describeWasm } from "./simd_kernels.ts";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { describeRuntime } from "../../shared/runtime.ts";
import {
  type AdapterLike,
  describeAdapter,
  type GpuLike,
  isSoftwareAdapter,
} from "./gpu_adapter.ts";
import { installWasmKernels } from "./wasm_kernels.ts";

/** Backends a Deno or Node.js client can use, in the order `auto` tries them. */
export const BACKENDS = ["tensorflow", "webgpu", "wasm", "cpu"] as const;

/** One of {@linkcode BACKENDS}. */
export type BackendName = typeof BACKENDS[number];

/** A backend, or `auto` for the first that works. */
export type BackendChoice = BackendName | "auto";

/** What was started. */
export interface BackendInfo {
  /** The tfjs backend name. */
  name: BackendName;
  /** The device, where known: a WebGPU adapter, libtensorflow's build. */
  device: string | null;
  /** The runtime, e.g. `deno 2.9.6` or `node 20.20.2`. */
  runtime: string;
  /** Backends `auto` tried first, each with why it was passed over. */
  skipped: { name: BackendName; reason: string }[];
}

/** How to get the tensorflow backend, said whenever it is missing. */
export const TENSORFLOW_HOWTO =
  "on a CUDA host, run the Node.js client (deno task build-node) after `npm install @tensorflow/tfjs-node-gpu@4.22.0` in client/node (or @tensorflow/tfjs-node for libtensorflow on the CPU); see docs/gpu-nodes.md";

const isNode = () =>
  !("Deno" in globalThis) &&
  typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node ===
    "string";

/** Imports a package by a name the bundler cannot see, so it stays optional. */
async function importOptional(name: string): Promise<unknown> {
  const specifier = [name][0]!;
  return await import(specifier);
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}

async function startTensorflow(): Promise<string> {
  if (!isNode()) {
    throw new Error(`libtensorflow's bindings load only under Node.js: ${TENSORFLOW_HOWTO}`);
  }
  const failures: string[] = [];
  for (
    const [name, device] of [
      ["@tensorflow/tfjs-node-gpu", "libtensorflow (CUDA build)"],
      ["@tensorflow/tfjs-node", "libtensorflow (CPU build)"],
    ] as const
  ) {
    try {
      await importOptional(name);
      return device;
    } catch (error) {
      failures.push(`${name}: ${reason(error)}`);
    }
  }
  throw new Error(
    `neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node could be loaded (${
      failures.join("; ")
    }): ${TENSORFLOW_HOWTO}`,
  );
}

async function gpu(): Promise<GpuLike> {
  const g = globalThis as { navigator?: { gpu?: GpuLike } };
  if (g.navigator?.gpu) return g.navigator.gpu;
  if (!isNode()) throw new Error("this runtime has no WebGPU (navigator.gpu is missing)");
  // Node.js: Dawn through the `webgpu` npm package, where installed.
  let dawn: { create(flags: string[]): GpuLike; globals: Record<string, unknown> };
  try {
    dawn = await importOptional("webgpu") as typeof dawn;
  } catch (error) {
    throw new Error(
      `Node.js has no WebGPU of its own and the \`webgpu\` npm package is not installed (npm install webgpu): ${
        reason(error)
      }`,
    );
  }
  Object.assign(globalThis, dawn.globals);
  const navigator = (g.navigator ??= {} as { gpu?: GpuLike });
  navigator.gpu = dawn.create([]);
  return navigator.gpu;
}

/**
 * The rule for WebGPU: why an adapter is passed over, or null to use it.
 * Without an adapter there is nothing to use; `auto` also passes over a
 * software adapter (slower than wasm on the same CPU), while a forced
 * `webgpu` takes any adapter.
 *
 * @example
 * ```ts
 * import { webgpuPassedOver } from "./backend.ts";
 * import assert from "node:assert/strict";
 * const llvmpipe = { info: { vendor: "mesa", description: "llvmpipe (LLVM 15.0.6, 256 bits)" } };
 * assert.match(webgpuPassedOver(llvmpipe, { auto: true })!, /only a software adapter/);
 * assert.equal(webgpuPassedOver(llvmpipe, { auto: false }), null);
 * ```
 */
export function webgpuPassedOver(
  adapter: AdapterLike | null,
  options: { auto: boolean },
): string | null {
  if (!adapter) {
    return "no WebGPU adapter (on Linux install a Vulkan driver, e.g. mesa-vulkan-drivers)";
  }
  if (options.auto && isSoftwareAdapter(adapter)) {
    return `only a software adapter (${
      describeAdapter(adapter)
    }), slower than wasm on the same CPU`;
  }
  return null;
}

async function startWebGpu(auto: boolean): Promise<string> {
  const adapter = await (await gpu()).requestAdapter();
  const passedOver = webgpuPassedOver(adapter, { auto });
  if (passedOver) throw new Error(passedOver);
  await import("@tensorflow/tfjs-backend-webgpu");
  return describeAdapter(adapter!);
}

function wasmDirectory(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve("@tensorflow/tfjs-backend-wasm")) + "/";
}

async function start(name: BackendName, auto: boolean): Promise<string | null> {
  let device: string | null = null;
  if (name === "tensorflow") device = await startTensorflow();
  if (name === "webgpu") device = await startWebGpu(auto);
  if (name === "wasm") setWasmPaths(wasmDirectory());
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (error) {
    throw new Error(reason(error));
  }
  if (!ok) throw new Error("tfjs could not initialise it");
  await tf.ready();
  if (name === "wasm") {
    installWasmKernels();
    device = describeWasm();
  }
  return device;
}

/**
 * Starts a tfjs backend: the first of {@linkcode BACKENDS} that works
 * (`auto`), or the one named, which must start or this throws with the
 * reason (and, for `tensorflow`, how to install it).
 *
 * @example
 * ```ts
 * import { startBackend } from "./backend.ts";
 * import assert from "node:assert/strict";
 * assert.equal((await startBackend("cpu")).name, "cpu");
 * ```
 */
export async function startBackend(choice: BackendChoice = "auto"): Promise<BackendInfo> {
  if (choice !== "auto" && !BACKENDS.includes(choice)) {
    throw new TypeError(
      `Cannot start backend "${choice}": expected auto or one of ${BACKENDS.join(", ")}`,
    );
  }
  const auto = choice === "auto";
  const skipped: BackendInfo["skipped"] = [];
  for (const name of auto ? BACKENDS : [choice]) {
    try {
      const device = await start(name, auto);
      return { name, device, runtime: describeRuntime(), skipped };
    } catch (error) {
      if (!auto) throw new Error(`Cannot start backend "${name}": ${reason(error)}`);
      skipped.push({ name, reason: reason(error) });
    }
  }
  throw new Error(
    `No tfjs backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join("; ")}`,
  );
}
