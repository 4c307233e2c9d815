// A secure round survives its coordinator: the coordinator (the CLI, with
// authentication on) is killed with SIGKILL in the masked-input stage, with
// two of four inputs in, and restarted on the same run folder. It resumes the
// stage from its recorded events (the keys, the sealed shares it forwarded,
// the inputs it accepted); the clients, which kept their keys, carry on; the
// round unmasks exactly the sum of the four quantized inputs.
import assert from "node:assert/strict";
import { join } from "node:path";
import { CoordinatorClient, isRetriable } from "../client/link/coordinator_client.ts";
import { secureSubmit } from "../client/link/secure_submit.ts";
import { freePort, spawnCoordinator, waitUntilUp } from "../coordinator/testing/spawn.ts";
import { seededRandom } from "../shared/random.ts";
import { decodeSafetensors } from "../shared/wire/safetensors.ts";
import { SecureAggregationSchema, StatusSchema, TaskConfigSchema } from "../shared/schemas/mod.ts";
import { decodeSum, encodeInput } from "../shared/secagg/input.ts";
import { secureParams } from "../shared/secagg/params.ts";
import { addModular } from "../shared/secagg/quantize.ts";
import { dense, sequential } from "../shared/tasks/layers.ts";

const ADMIN = "admin-token-for-the-secure-restart-test";
const ENROL = "enrolment-token-for-the-secure-restart-test";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a coordinator killed in the masked-input stage resumes it after a restart and unmasks the exact sum", async () => {
  const task = {
    id: "tiny-secure",
    model: {
      topology: sequential("tiny", [dense("dense1", 8, "relu", [4]), dense("logits", 3, "linear")]),
    },
    input: { shape: [4], labels: ["a", "b", "c"] },
    rounds: { total: 1, targetClients: 4, minClients: 4, timeoutSeconds: 600 },
    secureAggregation: { stageTimeoutSeconds: 60 },
  };
  const dir = await Deno.makeTempDir({ prefix: "secure-restart-" });
  const taskFile = join(dir, "task.json");
  await Deno.writeTextFile(taskFile, JSON.stringify(task));
  const runDir = join(dir, "run");
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const start = async () => {
    const child = spawnCoordinator({
      taskFile,
      runDir,
      port,
      adminToken: ADMIN,
      enrolmentToken: ENROL,
      linger: 30,
    });
    assert.ok(await waitUntilUp(url, child), "the coordinator started");
    return child;
  };
  const status = async () =>
    StatusSchema.parse(
      await (await fetch(`${url}/v1/status`, { headers: { Authorization: `Bearer ${ADMIN}` } }))
        .json(),
    );
  let child = await start();
  try {
    const config = TaskConfigSchema.parse({
      ...task,
      model: { topology: task.model.topology },
      secureAggregation: SecureAggregationSchema.parse(task.secureAggregation),
    });
    const params = secureParams(config.secureAggregation!, config.rounds);
    const sizes = [4 * 8, 8, 8 * 3, 3];
    // Clients 2 and 3 hold their input back until the coordinator has been restarted.
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const retrying = async <T>(call: () => Promise<T>): Promise<T> => {
      for (let i = 0;; i++) {
        try {
          return await call();
        } catch (error) {
          if (!isRetriable(error) || i > 300) throw error;
          await sleep(100);
        }
      }
    };
    const quantized: Uint32Array[] = [];
    const runs = [];
    let before = null;
    for (let i = 0; i < 4; i++) {
      const clientId = `device-${i}`;
      const { token } = await CoordinatorClient.enrol(url, { enrolmentToken: ENROL, clientId });
      const api = new CoordinatorClient(url, { token });
      const global = await api.model({ clientId });
      before ??= global.weights;
      const random = seededRandom(i + 1);
      const input = {
        delta: sizes.map((n) => Float32Array.from({ length: n }, () => (random() - 0.5) * 0.1)),
        weight: 10 + i,
        numLabeled: 10 + i,
        numUnlabeled: 0,
      };
      quantized.push(encodeInput(input, params, seededRandom(50 + i)));
      const calls = api.secure;
      runs.push(secureSubmit({
        api: {
          ...calls,
          input: async (...a) => {
            if (i >= 2) await held;
            return await calls.input(...a);
          },
        },
        clientId,
        task: await api.task(),
        round: 1,
        input,
        random: seededRandom(50 + i),
        retrying,
        pollMs: 50,
      }));
    }
    // Two inputs in: the kill.
    for (let s = await status(); s.secureStage !== "input" || s.received < 2; s = await status()) {
      await sleep(50);
    }
    child.kill("SIGKILL");
    await child.status;
    child = await start();
    const resumed = await status();
    assert.equal(resumed.phase, "training");
    assert.equal(resumed.secureStage, "input");
    assert.equal(resumed.received, 2, "the two accepted masked inputs survived the kill");
    release();
    const results = await Promise.all(runs);
    assert.deepEqual(results.map((r) => r.kind), ["done", "done", "done", "done"]);
    const final = await status();
    assert.equal(final.phase, "finished");
    assert.equal(final.history[1]!.secureAggregation!.survivors, 4);
    const sum = new Uint32Array(sizes.reduce((a, b) => a + b, 0) + 3);
    for (const q of quantized) addModular(sum, q, 1, 32);
    const expected = decodeSum(sum, 4, sizes, params);
    const after = decodeSafetensors(
      new Uint8Array(
        await (await fetch(`${url}/v1/model`, { headers: { Authorization: `Bearer ${ADMIN}` } }))
          .arrayBuffer(),
      ),
    ).tensors;
    ["dense1/kernel", "dense1/bias", "logits/kernel", "logits/bias"].forEach((name, k) => {
      const moved = after.get(name)!.data;
      const base = before!.get(name)!.data;
      for (let j = 0; j < moved.length; j++) {
        assert.equal(moved[j], Math.fround(base[j]! + expected.mean[k]![j]!), `${name}[${j}]`);
      }
    });
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
    await child.stderr.cancel();
  }
});
