// Every client draws its own dropout masks. The client CLI, run as its own
// process against a real coordinator, on the same MNIST shard: the same data
// and batches (batches follow --seed, default 0) and the same global model, so
// the deltas the clients keep (--keep-deltas) differ only where their dropout
// masks did. Without --seed two clients draw different masks; with one seed,
// two client ids draw different masks and the same id reproduces its own.
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Coordinator } from "../coordinator/serve.ts";
import { decodeSafetensors } from "../shared/wire/safetensors.ts";
import { denoRunArgs } from "./_deno_run.ts";
import { withMnistCoordinator } from "./_mnist_coordinator.ts";

const ENROLMENT = "enr_dropout_streams_test_0123456789";
const ADMIN = "adm_dropout_streams_test_0123456789";

function withCoordinator(
  clients: number,
  fn: (coordinator: Coordinator) => Promise<void>,
): Promise<void> {
  return withMnistCoordinator(
    { enrolmentToken: ENROLMENT, adminToken: ADMIN, clients, localSteps: 3 },
    fn,
  );
}

/** Runs the client CLI for the run's one round; returns the delta it kept, all tensors in one array. */
async function clientDelta(
  coordinator: Coordinator,
  dir: string,
  options: { id: string; seed?: number },
): Promise<Float32Array> {
  const keep = await Deno.makeTempDir({ dir, prefix: `${options.id}-` });
  const output = await new Deno.Command(Deno.execPath(), {
    args: denoRunArgs("client/main.ts", [
      "--coordinator",
      coordinator.url,
      "--enrolment-token",
      ENROLMENT,
      "--id",
      options.id,
      "--mnist-shard",
      "1/8",
      "--backend",
      "wasm",
      "--keep-deltas",
      keep,
      ...(options.seed === undefined ? [] : ["--seed", String(options.seed)]),
    ]),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, text);
  const { tensors } = decodeSafetensors(await Deno.readFile(join(keep, "round-0001.safetensors")));
  const names = [...tensors.keys()].sort();
  const size = names.reduce((n, name) => n + tensors.get(name)!.data.length, 0);
  const all = new Float32Array(size);
  let at = 0;
  for (const name of names) {
    all.set(tensors.get(name)!.data, at);
    at += tensors.get(name)!.data.length;
  }
  return all;
}

/** The fraction of values that differ bit for bit. */
function differing(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) n++;
  return n / x.length;
}

Deno.test("CLI clients on one shard: without --seed each draws its own masks; a seed and an id reproduce theirs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dropout-streams-" });
  try {
    // Two clients without --seed, same shard, same round.
    await withCoordinator(2, async (coordinator) => {
      const [a, b] = await Promise.all([
        clientDelta(coordinator, dir, { id: "node-a" }),
        clientDelta(coordinator, dir, { id: "node-b" }),
      ]);
      const share = differing(a, b);
      assert.ok(share > 0.2, `only ${(share * 100).toFixed(2)}% of the two deltas differ`);
    });
    // One explicit seed: two ids draw different masks...
    let seeded: Float32Array | undefined;
    await withCoordinator(2, async (coordinator) => {
      const [a, b] = await Promise.all([
        clientDelta(coordinator, dir, { id: "node-a", seed: 7 }),
        clientDelta(coordinator, dir, { id: "node-b", seed: 7 }),
      ]);
      const share = differing(a, b);
      assert.ok(share > 0.2, `only ${(share * 100).toFixed(2)}% of the seeded deltas differ`);
      seeded = a;
    });
    // ...and the same seed and id, in a fresh run from the same global, reproduce theirs.
    await withCoordinator(1, async (coordinator) => {
      const again = await clientDelta(coordinator, dir, { id: "node-a", seed: 7 });
      assert.equal(differing(again, seeded!), 0, "the same seed and id reproduce the delta");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
