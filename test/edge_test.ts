// Edge to cloud, as separate processes on loopback: a cloud coordinator, two
// edges (the coordinator CLI with --upstream) and six client CLIs, three
// behind each edge, for three rounds. The edges keep a copy of every update
// their clients sent (--keep-updates); the test recomputes a flat FedAvg over
// those updates and finds the cloud's final model. The fault test stops the
// cloud for a round: the edges keep collecting, deliver when it returns, and
// nothing is lost or counted twice.
import { chiSquare, UNIFORM_BYTES_LIMIT } from "./_chi_square.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort, spawnCoordinator, waitUntilUp } from "../coordinator/testing/spawn.ts";
import { decodeSafetensors, type Float32Tensor } from "../shared/wire/safetensors.ts";
import { DatabaseSync } from "node:sqlite";
import { type Status, StatusSchema, TaskResponseSchema } from "../shared/schemas/mod.ts";
import { meanErrorBound } from "../shared/secagg/input.ts";
import { secureParams } from "../shared/secagg/params.ts";

const ADMIN = "adm_edge_test_0123456789abcdef";
const ENROLMENT = "enr_edge_test_0123456789abcdef";
const ROUNDS = 3;

interface Tier {
  url: string;
  port: number;
  runDir: string;
  process: Deno.ChildProcess;
}

function startCloud(runDir: string, port: number, args: string[] = []): Tier {
  const process = spawnCoordinator({
    taskFile: "mnist-mlp",
    runDir,
    port,
    adminToken: ADMIN,
    enrolmentToken: ENROLMENT,
    linger: 120,
    args: ["--rounds", String(ROUNDS), "--target-clients", "2", "--min-clients", "2", ...args],
  });
  return { url: `http://127.0.0.1:${port}`, port, runDir, process };
}

/** An edge with its client token at the cloud, or enrolling itself as `{ edgeId }`. */
function startEdge(
  cloud: string,
  token: string | { edgeId: string },
  runDir: string,
  args: string[] = [],
): Tier {
  const port = freePort();
  const process = spawnCoordinator({
    runDir,
    port,
    adminToken: ADMIN,
    enrolmentToken: ENROLMENT,
    linger: 120,
    args: [
      "--upstream",
      cloud,
      ...(typeof token === "string"
        ? ["--upstream-token", token]
        : ["--upstream-enrolment-token", ENROLMENT, "--edge-id", token.edgeId]),
      "--target-clients",
      "3",
      "--min-clients",
      "3",
      "--keep-updates",
      ...args,
    ],
  });
  return { url: `http://127.0.0.1:${port}`, port, runDir, process };
}

function startClient(edge: string, shard: number, args: string[] = []): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "client/main.ts",
      "--coordinator",
      edge,
      "--enrolment-token",
      ENROLMENT,
      "--mnist-shard",
      `${shard}/6`,
      "--backend",
      "wasm",
      "--seed",
      String(shard),
      ...args,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

async function get(url: string, path: string): Promise<Response> {
  const response = await fetch(`${url}${path}`, { headers: { Authorization: `Bearer ${ADMIN}` } });
  assert.equal(response.status, 200, `${path}: ${response.status}`);
  return response;
}

const status = async (url: string): Promise<Status> =>
  StatusSchema.parse(await (await get(url, "/v1/status")).json());

async function weights(url: string): Promise<Map<string, Float32Tensor>> {
  return decodeSafetensors(new Uint8Array(await (await get(url, "/v1/model")).arrayBuffer()))
    .tensors;
}

async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 240_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The flat FedAvg over the updates the edges kept, round by round, from `initial`. */
async function flatFedAvg(
  initial: Map<string, Float32Tensor>,
  edgeDirs: string[],
  unlabeledWeight: number,
): Promise<{
  global: Map<string, Float32Tensor>;
  perRound: number[];
  examples: { numLabeled: number; numUnlabeled: number }[];
}> {
  const global = new Map([...initial].map(([k, t]) => [k, Float64Array.from(t.data)]));
  const perRound: number[] = [];
  const examples: { numLabeled: number; numUnlabeled: number }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const sums = new Map([...global].map(([k, t]) => [k, new Float64Array(t.length)]));
    let total = 0;
    let count = 0;
    const counted = { numLabeled: 0, numUnlabeled: 0 };
    for (const dir of edgeDirs) {
      const folder = join(dir, "mnist-mlp", "updates", `round-${String(round).padStart(4, "0")}`);
      for await (const entry of Deno.readDir(folder)) {
        const { tensors, metadata } = decodeSafetensors(
          await Deno.readFile(join(folder, entry.name)),
        );
        const weight = Number(metadata.numLabeled) +
          unlabeledWeight * Number(metadata.numUnlabeled);
        total += weight;
        count++;
        counted.numLabeled += Number(metadata.numLabeled);
        counted.numUnlabeled += Number(metadata.numUnlabeled);
        for (const [name, t] of tensors) {
          const sum = sums.get(name)!;
          for (let i = 0; i < sum.length; i++) sum[i]! += weight * t.data[i]!;
        }
      }
    }
    perRound.push(count);
    examples.push(counted);
    for (const [name, sum] of sums) {
      const g = global.get(name)!;
      // The coordinator applies the mean as float32 to a float32 global.
      const step = Float32Array.from(sum, (v) => v / total);
      for (let i = 0; i < g.length; i++) g[i] = Math.fround(g[i]! + step[i]!);
    }
  }
  return {
    global: new Map(
      [...global].map((
        [k, t],
      ) => [k, { shape: initial.get(k)!.shape, data: Float32Array.from(t) }]),
    ),
    perRound,
    examples,
  };
}

/** Runs a cloud, two edges and six clients; `midway` runs after round 1 closes at the cloud. */
async function federation(midway?: (cloud: Tier, edges: Tier[]) => Promise<Tier>): Promise<void> {
  const dirs = await Promise.all(
    ["cloud", "edge-1", "edge-2"].map((p) => Deno.makeTempDir({ prefix: `${p}-` })),
  );
  let cloud = startCloud(dirs[0]!, freePort());
  const processes: Deno.ChildProcess[] = [];
  try {
    assert.ok(await waitUntilUp(cloud.url, cloud.process));
    const initial = await weights(cloud.url);
    const task = TaskResponseSchema.parse(await (await get(cloud.url, "/v1/task")).json());
    // Without a fault, the cloud's admin enrols each edge; in the fault test
    // the edges enrol themselves with the cloud's enrolment token.
    const edges = [];
    for (const [i, dir] of [dirs[1]!, dirs[2]!].entries()) {
      const edgeId = `edge-${i + 1}`;
      let token: string | { edgeId: string } = { edgeId };
      if (!midway) {
        const response = await fetch(`${cloud.url}/v1/clients`, {
          method: "POST",
          headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
          body: JSON.stringify({ clientId: edgeId }),
        });
        token = (await response.json()).token;
      }
      const edge = startEdge(cloud.url, token, dir);
      edges.push(edge);
      processes.push(edge.process);
      assert.ok(await waitUntilUp(edge.url, edge.process));
    }
    for (let shard = 1; shard <= 6; shard++) {
      processes.push(startClient(edges[(shard - 1) % 2]!.url, shard));
    }
    if (midway) {
      await until(
        "round 1 at the cloud",
        async () => (await status(cloud.url)).round >= 2 || undefined,
      );
      cloud = await midway(cloud, edges);
      // The edges collected round 2 while the cloud was away, and now deliver it.
    }
    const done = await until("the cloud to finish", async () => {
      const s = await status(cloud.url);
      return s.phase === "finished" ? s : undefined;
    });
    // Each round took one update from each edge, never more.
    assert.deepEqual(done.history.map((h) => h.round), [0, 1, 2, 3]);
    for (const round of done.history.slice(1)) {
      assert.deepEqual(round.updates.map((u) => u.clientId).sort(), ["edge-1", "edge-2"]);
    }
    // The cloud lists its edges and the devices behind each.
    const byId = new Map(done.clients.map((c) => [c.id, c]));
    for (const id of ["edge-1", "edge-2"]) {
      assert.equal(byId.get(id)?.backend, "edge");
      assert.equal(byId.get(id)?.devices, 3);
      assert.equal(byId.get(id)?.updatesAccepted, ROUNDS);
    }
    // Two tiers give the flat FedAvg over the same updates.
    const flat = await flatFedAvg(initial, [dirs[1]!, dirs[2]!], task.aggregation.unlabeledWeight);
    assert.deepEqual(flat.perRound, [6, 6, 6]);
    const final = await weights(cloud.url);
    let worst = 0;
    for (const [name, t] of flat.global) {
      const got = final.get(name)!.data;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - t.data[i]!));
    }
    assert.ok(worst < 1e-5, `the cloud's model differs from the flat FedAvg by ${worst}`);
    // The examples the cloud counted are those of the six clients, once each round.
    assert.deepEqual(
      done.history.slice(1).map(({ numLabeled, numUnlabeled }) => ({ numLabeled, numUnlabeled })),
      flat.examples,
    );
    assert.ok(done.history[ROUNDS]!.accuracy! > done.history[0]!.accuracy! + 0.3);
    for (const p of processes.slice(2)) {
      const { code, stderr } = await p.output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
    }
  } finally {
    for (const p of [cloud.process, ...processes]) {
      try {
        p.kill("SIGKILL");
      } catch { /* already gone */ }
      await p.status;
    }
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a cloud, two edges and six clients: three rounds equal a flat FedAvg", async () => {
  await federation();
});

Deno.test("the cloud goes away for a round: edges keep collecting and deliver once it returns", async () => {
  await federation(async (cloud, edges) => {
    // Once both edges have opened round 2, the cloud dies.
    await until("the edges to open round 2", async () => {
      const rounds = await Promise.all(edges.map(async (e) => (await status(e.url)).round));
      return rounds.every((r) => r === 2) || undefined;
    });
    cloud.process.kill("SIGKILL");
    await cloud.process.status;
    // The edges keep collecting: each takes its three clients' round 2 and
    // closes its own round, holding the combined update for the cloud.
    for (const edge of edges) {
      await until("an edge to collect round 2", async () => {
        const s = await status(edge.url);
        return s.round === 2 && s.received === 3 && s.phase === "aggregating" || undefined;
      });
    }
    const back = startCloud(cloud.runDir, cloud.port);
    assert.ok(await waitUntilUp(back.url, back.process));
    return back;
  });
});

Deno.test("secure at the edges: the cloud's model is the flat FedAvg of the six devices' quantized updates within the bound, and no stored object is one device's update in the clear", async () => {
  const dirs = await Promise.all(
    ["cloud", "edge-1", "edge-2", "deltas"].map((p) =>
      Deno.makeTempDir({ prefix: `secure-${p}-` })
    ),
  );
  const cloud = startCloud(dirs[0]!, freePort(), ["--keep-updates"]);
  const processes: Deno.ChildProcess[] = [];
  try {
    assert.ok(await waitUntilUp(cloud.url, cloud.process));
    const initial = await weights(cloud.url);
    const task = TaskResponseSchema.parse(await (await get(cloud.url, "/v1/task")).json());
    const edges: Tier[] = [];
    for (const [i, dir] of [dirs[1]!, dirs[2]!].entries()) {
      const response = await fetch(`${cloud.url}/v1/clients`, {
        method: "POST",
        headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
        body: JSON.stringify({ clientId: `edge-${i + 1}` }),
      });
      const edge = startEdge(cloud.url, (await response.json()).token, dir, [
        "--secure-aggregation",
      ]);
      edges.push(edge);
      processes.push(edge.process);
      assert.ok(await waitUntilUp(edge.url, edge.process));
    }
    const edgeTask = TaskResponseSchema.parse(await (await get(edges[0]!.url, "/v1/task")).json());
    assert.ok(edgeTask.secureAggregation, "the edge announces secure aggregation to its devices");
    for (let shard = 1; shard <= 6; shard++) {
      processes.push(startClient(edges[(shard - 1) % 2]!.url, shard, [
        "--keep-deltas",
        join(dirs[3]!, `device-${shard}`),
      ]));
    }
    const done = await until("the cloud to finish", async () => {
      const s = await status(cloud.url);
      return s.phase === "finished" ? s : undefined;
    });
    for (const round of done.history.slice(1)) {
      assert.deepEqual(round.updates.map((u) => u.clientId).sort(), ["edge-1", "edge-2"]);
    }
    for (const edge of edges) {
      // The edge commits its last round once the cloud has answered it.
      const s = await until("the edge to finish", async () => {
        const e = await status(edge.url);
        return e.phase === "finished" ? e : undefined;
      });
      for (const h of s.history.slice(1)) assert.equal(h.secureAggregation?.survivors, 3);
    }

    // The flat FedAvg of the devices' own record of their plain deltas, clipped
    // as they were; each edge's mean is off by at most its quantization bound,
    // and the cloud's weighted mean of the two by at most the larger.
    const params = secureParams(edgeTask.secureAggregation!, edgeTask.rounds);
    const flat = new Map([...initial].map(([k, t]) => [k, Float64Array.from(t.data)]));
    let bound = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const sums = new Map([...flat].map(([k, t]) => [k, new Float64Array(t.length)]));
      let total = 0;
      const edgeUnits = [0, 0];
      for (let shard = 1; shard <= 6; shard++) {
        const file = join(
          dirs[3]!,
          `device-${shard}`,
          `round-${String(round).padStart(4, "0")}.safetensors`,
        );
        const { tensors, metadata } = decodeSafetensors(await Deno.readFile(file));
        const weight = Number(metadata.numLabeled) +
          task.aggregation.unlabeledWeight * Number(metadata.numUnlabeled);
        assert.ok(weight < params.maxWeight, "no weight is capped");
        edgeUnits[(shard - 1) % 2]! += weight / params.maxWeight;
        total += weight;
        for (const [name, t] of tensors) {
          const sum = sums.get(name)!;
          for (let i = 0; i < sum.length; i++) {
            sum[i]! += weight * Math.min(params.clipRange, Math.max(-params.clipRange, t.data[i]!));
          }
        }
      }
      for (const [name, sum] of sums) {
        const g = flat.get(name)!;
        for (let i = 0; i < g.length; i++) g[i]! += sum[i]! / total;
      }
      bound += Math.max(
        ...edgeUnits.map((weightUnits) => meanErrorBound(params, { count: 3, weightUnits })),
      );
    }
    const final = await weights(cloud.url);
    let worst = 0;
    for (const [name, t] of flat) {
      const got = final.get(name)!.data;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - t[i]!));
    }
    assert.ok(bound < 1e-5, `the bound ${bound} is loose`);
    // The bound, plus float32 rounding over three rounds and two tiers.
    assert.ok(worst <= bound + 1e-5, `off by ${worst}, bound ${bound}`);

    // Nothing stored at an edge is one device's update in the clear: its kept
    // copies are masked inputs that look like noise, its state holds no update.
    for (const dir of [dirs[1]!, dirs[2]!]) {
      for (let round = 1; round <= ROUNDS; round++) {
        const folder = join(dir, "mnist-mlp", "updates", `round-${String(round).padStart(4, "0")}`);
        const files = [...Deno.readDirSync(folder)].map((e) => e.name);
        assert.equal(files.length, 3);
        for (const name of files) {
          assert.match(name, /\.masked$/);
          const chi = chiSquare(await Deno.readFile(join(folder, name)));
          assert.ok(chi < UNIFORM_BYTES_LIMIT, `${name}: chi-square ${chi.toFixed(1)}`);
        }
      }
      const db = new DatabaseSync(join(dir, "state.db"), { readOnly: true });
      try {
        for (const table of ["pending", "secagg"]) {
          const { n } = db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number };
          assert.equal(n, 0, `${table} is empty at the edge`);
        }
      } finally {
        db.close();
      }
    }
    // The cloud keeps only the edges' combined updates.
    const cloudRound = join(dirs[0]!, "mnist-mlp", "updates", "round-0001");
    assert.deepEqual(
      [...Deno.readDirSync(cloudRound)].map((e) => e.name).sort(),
      ["edge-1.safetensors", "edge-2.safetensors"],
    );
    for (const p of processes.slice(2)) {
      const { code, stderr } = await p.output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
    }
  } finally {
    for (const p of [cloud.process, ...processes]) {
      try {
        p.kill("SIGKILL");
      } catch { /* already gone */ }
      await p.status;
    }
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
});
