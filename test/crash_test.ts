// Crash safety: the coordinator runs as its own process (the CLI, with
// authentication on) and is killed with SIGKILL again and again: at random
// moments while clients post updates, while an upload is in flight, and, by
// fault injection (FL_FAULT_KILL_CHECKPOINT / FL_FAULT_KILL_COMMIT /
// FL_FAULT_KILL_SPOOL_SYNC), in the middle of writing a checkpoint, between a
// checkpoint and the commit of its round, and between a group commit's write
// of updates to the spool and its fdatasync (none of them answered yet). It restarts on the same run folder each time. At the end every
// update that got a 202 is counted in exactly one aggregate, every checkpoint
// loads, and training completes.
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeSafetensors, type Float32Tensor } from "../shared/wire/safetensors.ts";
import { seededRandom } from "../shared/random.ts";
import { dense, sequential } from "../shared/tasks/layers.ts";
import { type Status, StatusSchema } from "../shared/schemas/mod.ts";
import { freePort, spawnCoordinator, waitUntilUp } from "../coordinator/testing/spawn.ts";
import { elementCount } from "../shared/shape.ts";

const ROUNDS = 200;
const CLIENTS = ["c1", "c2", "c3", "c4"];
const ADMIN = "admin-token-for-the-crash-test";
const ENROL = "enrolment-token-for-the-crash-test";
const KILLS = 22;

const task = {
  id: "tiny",
  model: {
    topology: sequential("tiny", [dense("dense1", 8, "relu", [4]), dense("logits", 3, "linear")]),
  },
  input: { shape: [4], labels: ["a", "b", "c"] },
  rounds: { total: ROUNDS, targetClients: 3, minClients: 3, timeoutSeconds: 600 },
};
const SHAPES: [string, number[]][] = [
  ["dense1/kernel", [4, 8]],
  ["dense1/bias", [8]],
  ["logits/kernel", [8, 3]],
  ["logits/bias", [3]],
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** No round closed for too long: an accepted update was lost, or the coordinator hangs. */
class Stall extends Error {}

/**
 * Whether `error` is what a killed coordinator causes a fetch: the connection
 * refused, reset or cut off while sending or reading a body. Deno's fetch
 * reports those as TypeErrors with these messages.
 */
function connectionError(error: unknown): boolean {
  if (!(error instanceof TypeError)) return false;
  const text = `${error.message} ${String((error as { cause?: unknown }).cause ?? "")}`;
  return /error sending request|error reading a body|connection (closed|reset|refused)|broken pipe|os error|Connect/i
    .test(text);
}

Deno.test("SIGKILLs at random points lose no accepted update and leave every checkpoint loadable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crash-" });
  const taskFile = join(dir, "task.json");
  await Deno.writeTextFile(taskFile, JSON.stringify(task));
  const runDir = join(dir, "run");
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const random = seededRandom(7);
  const tokens = new Map<string, string>();
  /** Every 202: client and round it was accepted for. */
  const accepted = new Set<string>();
  /** Updates sent whose answer was lost: resent (same bytes) first in the next life. */
  const inDoubt = new Map<string, Uint8Array>();
  let kills = 0;
  let checkpointKills = 0;
  let uploadKills = 0;
  let syncKills = 0;
  let finished: Status | null = null;

  // A spool-sync kill is certain in the first lives after the first until one
  // has come (`forceSync`: no random kill then), and likely in every third life
  // after that, so that sync kills neither go missing nor crowd out the others.
  const start = (faults: boolean, life = 0, forceSync = false) =>
    spawnCoordinator({
      taskFile,
      runDir,
      port,
      adminToken: ADMIN,
      enrolmentToken: ENROL,
      linger: 1,
      env: faults
        ? {
          FL_FAULT_KILL_CHECKPOINT: "0.08",
          FL_FAULT_KILL_COMMIT: "0.08",
          FL_FAULT_KILL_SPOOL_SYNC: forceSync ? "1" : life % 3 === 1 ? "0.05" : "0",
        }
        : {},
    });

  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

  async function post(clientId: string, bytes: Uint8Array, body?: BodyInit): Promise<void> {
    const key = `${clientId}`;
    inDoubt.set(key, bytes);
    const res = await fetch(`${url}/v1/updates`, {
      method: "POST",
      headers: { ...auth(tokens.get(clientId)!), "Content-Type": "application/octet-stream" },
      body: body ?? (bytes as Uint8Array<ArrayBuffer>),
    });
    const json = await res.json();
    inDoubt.delete(key);
    if (res.status === 202) accepted.add(`${clientId}@${json.round}`);
    else assert.ok([409, 429, 503].includes(res.status), `${res.status} ${JSON.stringify(json)}`);
  }

  /** Posts updates for the open round until the coordinator dies or finishes. */
  async function drive(): Promise<void> {
    for (const [clientId, bytes] of [...inDoubt]) await post(clientId, bytes);
    let round = -1;
    let since = Date.now();
    for (;;) {
      const res = await fetch(`${url}/v1/status`, { headers: auth(ADMIN) });
      if (res.status === 429) {
        await res.body?.cancel();
        await sleep(1000 * Number(res.headers.get("Retry-After")));
        continue;
      }
      const status = StatusSchema.parse(await res.json());
      if (status.round !== round) [round, since] = [status.round, Date.now()];
      if (Date.now() - since > 20_000) throw new Stall(`round ${round} made no progress for 20 s`);
      if (status.phase === "finished") {
        finished = status;
        return;
      }
      const sent = CLIENTS.filter((c) => !accepted.has(`${c}@${status.round}`));
      await Promise.all(sent.map((clientId) => {
        const tensors = new Map<string, Float32Tensor>(SHAPES.map(([name, shape]) => [name, {
          shape,
          data: new Float32Array(elementCount(shape)).map(() => random() - 0.5),
        }]));
        const bytes = encodeSafetensors(tensors, {
          round: String(status.round),
          baseVersion: String(status.version),
          numLabeled: "2",
          numUnlabeled: "1",
          clientId,
        });
        return post(clientId, bytes);
      }));
      await sleep(10);
    }
  }

  /** An upload that sends half its body and then waits: in flight when the kill comes. */
  function slowUpload(): Promise<unknown> {
    const bytes = encodeSafetensors(
      new Map(SHAPES.map(([name, shape]) => [name, {
        shape,
        data: new Float32Array(elementCount(shape)),
      }])),
      { round: "1", baseVersion: "0", numLabeled: "1", numUnlabeled: "0", clientId: "c1" },
    );
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.subarray(0, bytes.length >> 1));
      },
    });
    return fetch(`${url}/v1/updates`, {
      method: "POST",
      headers: { ...auth(tokens.get("c1")!), "Content-Type": "application/octet-stream" },
      body,
    }).then((r) => r.body?.cancel()).catch(() => {});
  }

  try {
    for (let life = 0; !finished; life++) {
      const faults = kills < KILLS;
      const forceSync = faults && life >= 1 && syncKills === 0;
      const child = start(faults, life, forceSync);
      const stderr = new Response(child.stderr).text();
      const up = await waitUntilUp(url, child);
      if (up && tokens.size === 0) {
        for (const clientId of CLIENTS) {
          const res = await fetch(`${url}/v1/enrol`, {
            method: "POST",
            headers: { ...auth(ENROL), "Content-Type": "application/json" },
            body: JSON.stringify({ clientId }),
          });
          assert.equal(res.status, 201);
          tokens.set(clientId, (await res.json()).token);
        }
      }
      // A killed coordinator makes drive() fail with a connection error; any other failure
      // (an unexpected status, a status that does not parse, a stall) counts, in every life.
      const driving = up ? drive().catch((e) => faults && connectionError(e) ? null : e) : null;
      if (faults && up && !forceSync) {
        // Kill at a random moment; every third life with an upload in flight.
        await sleep(30 + random() * 250);
        if (life % 3 === 0 && tokens.size > 0) {
          slowUpload();
          await sleep(40);
          uploadKills++;
        }
        try {
          child.kill("SIGKILL");
        } catch {
          // it died by itself (fault injection)
        }
      }
      const stalled = await driving;
      if (stalled) {
        try {
          child.kill("SIGKILL");
        } catch {
          // gone already
        }
        await child.status;
        throw stalled;
      }
      const status = await child.status;
      const log = await stderr;
      if (/fault injection: SIGKILL at CHECKPOINT/.test(log)) checkpointKills++;
      if (/fault injection: SIGKILL at SPOOL_SYNC/.test(log)) syncKills++;
      if (status.signal === "SIGKILL") kills++;
      else {
        assert.equal(status.code, 0, `the coordinator failed:\n${log}`);
        assert.ok(finished, "the coordinator exited before training finished");
      }
      assert.ok(life < 200, "too many lives");
    }

    console.log(JSON.stringify({ kills, checkpointKills, uploadKills, syncKills }));
    assert.ok(kills >= 20, `only ${kills} kills`);
    assert.ok(checkpointKills >= 1, "no kill during a checkpoint write");
    assert.ok(uploadKills >= 1, "no kill during an upload");
    assert.ok(syncKills >= 1, "no kill between a spool write and its sync");
    const status: Status = finished!;
    // Started again on a finished run, it exports the final model and exits cleanly.
    const again = start(false);
    const log = await new Response(again.stderr).text();
    assert.equal((await again.status).code, 0, log);
    assert.deepEqual(status.history.map((h) => h.round), [...Array(ROUNDS + 1).keys()]);
    // Every 202 is in exactly one aggregate, and every aggregate's update got a 202.
    const counted = status.history.flatMap((h) => h.updates.map((u) => `${u.clientId}@${h.round}`));
    assert.equal(new Set(counted).size, counted.length, "an update was counted twice");
    assert.deepEqual([...accepted].sort(), [...counted].sort());
    assert.ok(status.history.slice(1).every((h) => h.clients === 3));
    // Every checkpoint is whole: model.json parses and weights.bin has the manifest's bytes.
    const folder = join(runDir, "tiny");
    let checkpoints = 0;
    for (const entry of Deno.readDirSync(folder)) {
      assert.ok(!entry.name.startsWith("."), `leftover ${entry.name}`);
      const modelJson = JSON.parse(Deno.readTextFileSync(join(folder, entry.name, "model.json")));
      const bytes = modelJson.weightsManifest[0].weights.reduce(
        (n: number, w: { shape: number[] }) => n + 4 * elementCount(w.shape),
        0,
      );
      assert.equal(Deno.statSync(join(folder, entry.name, "weights.bin")).size, bytes);
      checkpoints++;
    }
    assert.ok(checkpoints >= ROUNDS + 1, `${checkpoints} checkpoints`);
    // Nothing is left in the spool: records of killed batches were removed on restart.
    const spool = [...Deno.readDirSync(join(runDir, "spool", "tiny"))].map((e) => e.name);
    assert.deepEqual(spool, [], `left in the spool: ${spool.join(", ")}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
