// GPU nodes: the Deno client trains a round on WebGPU (Mesa's software Vulkan
// here: CI installs mesa-vulkan-drivers), the Node.js entry trains a round on
// wasm, each against a real coordinator, and asking for the tensorflow backend
// where @tensorflow/tfjs-node-gpu is not installed says how to install it.
// The clients are the CLIs, run as processes; what is checked comes from the
// coordinator's status.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { Coordinator } from "../coordinator/serve.ts";
import { type Status, StatusSchema } from "../shared/schemas/mod.ts";
import { withMnistCoordinator } from "./_mnist_coordinator.ts";

const ENROLMENT = "enr_gpu_node_test_0123456789abcdef";
const ADMIN = "adm_gpu_node_test_0123456789abcdef";
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const NODE_CLIENT = "client/node/dist/client.mjs";

function withCoordinator(
  fn: (coordinator: Coordinator) => Promise<void>,
  options: { clients?: number; secure?: boolean } = {},
): Promise<void> {
  return withMnistCoordinator({ enrolmentToken: ENROLMENT, adminToken: ADMIN, ...options }, fn);
}

async function status(coordinator: Coordinator): Promise<Status> {
  const response = await fetch(`${coordinator.url}/v1/status`, {
    headers: { Authorization: `Bearer ${ADMIN}` },
  });
  return StatusSchema.parse(await response.json());
}

/** Runs a client CLI to its end; returns its exit code and output. */
async function runCli(
  command: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(command, {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

const clientArgs = (coordinator: Coordinator, backend: string) => [
  "--coordinator",
  coordinator.url,
  "--enrolment-token",
  ENROLMENT,
  "--mnist-shard",
  "1/8",
  "--backend",
  backend,
];

Deno.test("the Deno client trains a round on webgpu and its update is accepted", async () => {
  await withCoordinator(async (coordinator) => {
    const run = await runCli(Deno.execPath(), [
      "run",
      "-A",
      "client/main.ts",
      ...clientArgs(coordinator, "webgpu"),
    ]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /backend webgpu \(.+\) on deno /);
    const s = await status(coordinator);
    assert.equal(s.phase, "finished");
    const [client] = s.clients;
    assert.equal(client!.backend, "webgpu");
    assert.ok(client!.device, "the adapter is reported");
    assert.match(client!.runtime!, /^deno \d/);
    assert.equal(client!.updatesAccepted, 1);
    assert.deepEqual(s.history[1]!.updates.map((u) => u.clientId), [client!.id]);
    // Five steps of R-Drop on the update moved the global off chance.
    assert.ok(s.history[1]!.accuracy! > s.history[0]!.accuracy! + 0.05);
  });
});

Deno.test("the Node.js entry trains a round on wasm against a real coordinator", async () => {
  await withCoordinator(async (coordinator) => {
    const run = await runCli("node", [NODE_CLIENT, ...clientArgs(coordinator, "wasm")]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    // The fused SIMD kernels load under Node.js too, and train: 5 steps, each one Adam
    // update per weight (6 in mnist-mlp) and one mask per dropout layer (2).
    assert.match(run.stdout, /backend wasm \(WebAssembly SIMD\) on node \d/);
    assert.match(run.stdout, /round 1: .*\(fused kernels: 30 Adam updates, 10 dropout masks\)/);
    const s = await status(coordinator);
    const [client] = s.clients;
    assert.equal(client!.backend, "wasm");
    assert.equal(client!.device, "WebAssembly SIMD");
    assert.match(client!.runtime!, /^node (\d+)\./);
    assert.ok(Number(/^node (\d+)/.exec(client!.runtime!)![1]) >= 20);
    assert.equal(client!.updatesAccepted, 1);
    assert.ok(s.history[1]!.accuracy! > s.history[0]!.accuracy! + 0.05);
  });
});

Deno.test("secure aggregation: the Node.js CLI and the Deno CLI complete a secure round together", async () => {
  await withCoordinator(async (coordinator) => {
    const [node, deno] = await Promise.all([
      runCli("node", [NODE_CLIENT, ...clientArgs(coordinator, "wasm")]),
      runCli(Deno.execPath(), ["run", "-A", "client/main.ts", ...clientArgs(coordinator, "cpu")]),
    ]);
    for (const run of [node, deno]) {
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assert.match(run.stdout, /masked input summed \(secure aggregation\)/);
    }
    const s = await status(coordinator);
    assert.equal(s.phase, "finished");
    assert.deepEqual(s.clients.map((c) => c.runtime!.split(" ")[0]).sort(), ["deno", "node"]);
    assert.equal(s.history[1]!.secureAggregation!.survivors, 2);
    assert.ok(s.history[1]!.accuracy! > s.history[0]!.accuracy! + 0.05);
  }, { clients: 2, secure: true });
});

Deno.test("--backend tensorflow without tfjs-node-gpu fails and says how to install it", async () => {
  for (
    const [command, entry] of [["node", [NODE_CLIENT]], [Deno.execPath(), [
      "run",
      "-A",
      "client/main.ts",
    ]]] as const
  ) {
    // The backend starts before anything else: no coordinator is needed.
    const run = await runCli(command, [
      ...entry,
      "--coordinator",
      "http://127.0.0.1:9",
      "--mnist-shard",
      "1/8",
      "--backend",
      "tensorflow",
    ]);
    assert.equal(run.code, 2, command);
    assert.match(run.stderr, /Cannot start backend "tensorflow"/);
    assert.match(run.stderr, /npm install @tensorflow\/tfjs-node-gpu@4\.22\.0/);
    assert.equal(run.stdout, "");
  }
});
