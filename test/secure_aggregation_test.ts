// Secure aggregation end to end: a real coordinator on a real port and 10 real
// Deno clients training mnist-mlp over HTTP, each sending only a masked input.
// The global model after each round is FedAvg of the clients' own record of
// their plain deltas, within the quantization bound; every stored masked
// input looks like noise (its norm, decoded as a delta, dwarfs the true
// delta's, and its bytes pass a chi-square test for uniformity); a plain
// update is refused. Clients that vanish at chosen stages (they stop talking,
// as a closed tab does) are left out and the round unmasks exactly the
// survivors' sum, or fails cleanly below the threshold with nothing unmasked.
import { chiSquare, UNIFORM_BYTES_LIMIT } from "./_chi_square.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { runClient } from "../client/run_client.ts";
import { CoordinatorClient, type SecureCalls } from "../client/link/coordinator_client.ts";
import { secureSubmit } from "../client/link/secure_submit.ts";
import { startCoordinator } from "../coordinator/serve.ts";
import { countRows, selectRows } from "../shared/data/dataset.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import { partition } from "../shared/data/partition.ts";
import { seededRandom } from "../shared/random.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type Float32Tensor,
} from "../shared/wire/safetensors.ts";
import {
  type RoundMetrics,
  SecureAggregationSchema,
  type TaskConfig,
} from "../shared/schemas/mod.ts";
import { decodeSum, encodeInput, meanErrorBound } from "../shared/secagg/input.ts";
import { secureParams } from "../shared/secagg/params.ts";
import { addModular } from "../shared/secagg/quantize.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
import { elementCount } from "../shared/shape.ts";

const secure = (task: TaskConfig, settings: Record<string, unknown> = {}): TaskConfig => ({
  ...task,
  secureAggregation: SecureAggregationSchema.parse(settings),
});

/** The global's trainable tensors after each round, from the coordinator's onRound. */
function globalsByRound() {
  const globals = new Map<number, Map<string, Float32Tensor>>();
  return {
    globals,
    onRound:
      (federation: () => { globalModel(): { safetensors: Uint8Array } }) =>
      (_: string, metrics: RoundMetrics) => {
        // Round 0 (the initial model) is measured before the coordinator is returned.
        if (metrics.round === 0) return;
        globals.set(
          metrics.round,
          decodeSafetensors(federation().globalModel().safetensors).tensors,
        );
      },
  };
}

Deno.test("10 Deno clients with secure aggregation: the global is FedAvg of their quantized deltas, and masked inputs look like noise", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "secagg-e2e-" });
  const task = secure(mnistMlpTask({
    rounds: { total: 2, targetClients: 10, minClients: 10, timeoutSeconds: 600 },
    training: { localSteps: 4, labeledBatchSize: 16, unlabeledBatchSize: 16 },
  }));
  const { train, holdout } = await loadMnistSplit({ seed: 3 });
  let coordinatorRef: Awaited<ReturnType<typeof startCoordinator>> | null = null;
  const record = globalsByRound();
  const coordinator = await startCoordinator({
    tasks: [{ config: task, holdout }],
    runDir,
    auth: "insecure",
    keepUpdates: true,
    onRound: record.onRound(() => coordinatorRef!.federation),
  });
  coordinatorRef = coordinator;
  const { url, federation } = coordinator;
  try {
    const initial = decodeSafetensors(federation.globalModel().safetensors).tensors;
    // A plain update to a secure task is refused, and changes nothing.
    const plain = new Map(
      federation.trainable.map((w) => [w.name, {
        shape: w.shape,
        data: new Float32Array(elementCount(w.shape)),
      }]),
    );
    const refused = await fetch(`${url}/v1/updates`, {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: encodeSafetensors(plain, {
        round: "1",
        baseVersion: "0",
        numLabeled: "1",
        numUnlabeled: "0",
        clientId: "plain",
      }) as Uint8Array<ArrayBuffer>,
    });
    assert.equal(refused.status, 400);
    assert.match((await refused.json()).error.message, /secure aggregation/);

    const parts = partition(train.labels, [...train.labels.keys()], {
      clients: 10,
      beta: 1,
      labeledFraction: 0.2,
      seed: 3,
    });
    const deltas = new Map<
      number,
      Map<string, { delta: Map<string, Float32Tensor>; weight: number }>
    >();
    await Promise.all(parts.map((part, i) => {
      const clientId = `client-${String(i).padStart(2, "0")}`;
      const dataset = selectRows(train, part.rows, { hideLabels: part.unlabeledRows });
      const counts = countRows(dataset);
      const weight = counts.numLabeled + 0.5 * counts.numUnlabeled;
      return runClient({
        coordinator: url,
        dataset,
        clientId,
        seed: i,
        onDelta: (round, delta) => {
          if (!deltas.has(round)) deltas.set(round, new Map());
          deltas.get(round)!.set(clientId, { delta, weight });
        },
      });
    }));
    await federation.finished;
    const status = federation.status();
    assert.deepEqual(status.history.map((h) => h.clients), [0, 10, 10]);
    assert.ok(status.history.slice(1).every((h) => h.keptBecause === null));
    assert.deepEqual(status.history[1]!.secureAggregation, {
      ...status.history[1]!.secureAggregation!,
      advertised: 10,
      survivors: 10,
      dropped: 0,
    });
    const params = secureParams(task.secureAggregation!, task.rounds);
    let before = initial;
    for (const round of [1, 2]) {
      const sent = [...deltas.get(round)!.values()];
      assert.equal(sent.length, 10);
      const after = record.globals.get(round)!;
      const units = sent.map((s) => Math.min(s.weight, params.maxWeight) / params.maxWeight);
      const weightUnits = units.reduce((a, b) => a + b, 0);
      const bound = meanErrorBound(params, { count: 10, weightUnits });
      let worst = 0;
      for (const w of federation.trainable) {
        const moved = after.get(w.name)!.data;
        const base = before.get(w.name)!.data;
        for (let j = 0; j < moved.length; j++) {
          let expected = 0;
          sent.forEach((s, k) => {
            const v = Math.min(
              params.clipRange,
              Math.max(-params.clipRange, s.delta.get(w.name)!.data[j]!),
            );
            expected += units[k]! * v;
          });
          expected /= weightUnits;
          worst = Math.max(worst, Math.abs(moved[j]! - base[j]! - expected));
        }
      }
      // The bound, plus float32 rounding of the global (|w| < 1: 2^-24 each way).
      assert.ok(worst <= bound + 2e-7, `round ${round}: off by ${worst}, bound ${bound}`);
      assert.ok(bound < 1e-5, `the bound ${bound} is loose`);
      before = after;

      // Every stored masked input looks like noise.
      const dir = join(runDir, task.id, "updates", `round-000${round}`);
      const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.equal(files.length, 10);
      for (const file of files) {
        const bytes = Deno.readFileSync(join(dir, file));
        const values = new Uint32Array(bytes.buffer, 0, bytes.byteLength / 4);
        const step = (2 * params.clipRange) / params.levels;
        let maskedNorm = 0;
        for (let j = 0; j < values.length - 3; j++) {
          maskedNorm += (values[j]! * step - params.clipRange) ** 2;
        }
        const trueDelta = deltas.get(round)!.get(file.replace(/\.masked$/, ""))!;
        let trueNorm = 0;
        for (const t of trueDelta.delta.values()) for (const v of t.data) trueNorm += v * v;
        assert.ok(
          Math.sqrt(maskedNorm) >= 100 * Math.sqrt(trueNorm),
          `${file}: norm ${Math.sqrt(maskedNorm)} vs the delta's ${Math.sqrt(trueNorm)}`,
        );
        const chi = chiSquare(bytes);
        assert.ok(
          chi < UNIFORM_BYTES_LIMIT,
          `${file}: chi-square ${chi.toFixed(1)} over 256 byte values`,
        );
      }
    }
  } finally {
    await coordinator.shutdown();
  }
});

/** A client's secure calls that stop at a stage: its requests from then on never complete. */
function vanishing(api: SecureCalls, at: "before input" | "after input" | null): SecureCalls {
  const never = new Promise<never>(() => {});
  let gone = false;
  return {
    state: (id, round) => (gone ? never : api.state(id, round)),
    post: (stage, body) => (gone ? never : api.post(stage, body)),
    input: async (id, round, input) => {
      if (at === "before input") {
        gone = true;
        return await never;
      }
      const answer = await api.input(id, round, input);
      if (at === "after input") gone = true;
      return answer;
    },
  };
}

Deno.test("dropouts: 1 client gone before its masked input and 3 after still give the survivors' exact sum; below the threshold the round fails and nothing is unmasked", async () => {
  const task = secure(
    mnistMlpTask({ rounds: { total: 2, targetClients: 10, minClients: 6, timeoutSeconds: 60 } }),
    { stageTimeoutSeconds: 2 },
  );
  const params = secureParams(task.secureAggregation!, task.rounds);
  assert.equal(params.threshold, 6);
  const coordinator = await startCoordinator({ tasks: [{ config: task }], auth: "insecure" });
  const { url, federation } = coordinator;
  const sizes = federation.trainable.map((w) => elementCount(w.shape));
  /** Runs 10 clients on round `round`, the first ones vanishing as `plan` says; resolves with their quantized inputs. */
  const runRound = async (round: number, plan: ("before input" | "after input" | null)[]) => {
    const stagesSeen = new Set<string>();
    const staying: Promise<{ kind: string }>[] = [];
    const quantized = new Map<string, Uint32Array>();
    for (let i = 0; i < 10; i++) {
      const clientId = `r${round}-client-${i}`;
      const api = new CoordinatorClient(url);
      const global = await api.model({ clientId });
      assert.equal(global.round, round);
      const random = seededRandom(100 * round + i);
      const input = {
        delta: sizes.map((n) => Float32Array.from({ length: n }, () => (random() - 0.5) * 0.02)),
        weight: 50 + 10 * i,
        numLabeled: 40 + 10 * i,
        numUnlabeled: 20,
      };
      if (plan[i] !== "before input") {
        quantized.set(clientId, encodeInput(input, params, seededRandom(7 * round + i)));
      }
      // A vanished client's never ends; the others' end with the round.
      const run = secureSubmit({
        api: vanishing(api.secure, plan[i] ?? null),
        clientId,
        task: await api.task(),
        round,
        input,
        random: seededRandom(7 * round + i),
        pollMs: 50,
        onStage: (stage) => stagesSeen.add(stage),
      });
      if (!plan[i]) staying.push(run);
    }
    const results = await Promise.all(staying);
    assert.ok(federation.status().history.length > round);
    return { stagesSeen, quantized, results };
  };
  try {
    const before = decodeSafetensors(federation.globalModel().safetensors).tensors;
    const first = await runRound(1, ["before input", "after input", "after input", "after input"]);
    assert.deepEqual(first.results.map((r) => r.kind), Array(6).fill("done"));
    const metrics = federation.status().history[1]!;
    assert.equal(metrics.keptBecause, null);
    assert.deepEqual(
      { ...metrics.secureAggregation!, unmaskSeconds: 0 },
      { advertised: 10, survivors: 9, dropped: 1, unmaskSeconds: 0 },
    );
    assert.deepEqual(metrics.failures, [{
      clientId: "r1-client-0",
      reason: "shared its keys, then sent no masked input",
    }]);
    // The survivors' exact sum: their quantized inputs added modulo 2^32, decoded.
    const sum = new Uint32Array(sizes.reduce((a, b) => a + b, 0) + 3);
    for (const q of first.quantized.values()) addModular(sum, q, 1, 32);
    const expected = decodeSum(sum, 9, sizes, params);
    assert.equal(metrics.numLabeled, expected.numLabeled);
    assert.equal(metrics.numLabeled, [...Array(9).keys()].reduce((n, i) => n + 50 + 10 * i, 0));
    const after = decodeSafetensors(federation.globalModel().safetensors).tensors;
    federation.trainable.forEach((w, k) => {
      const moved = after.get(w.name)!.data;
      const base = before.get(w.name)!.data;
      for (let j = 0; j < moved.length; j++) {
        assert.equal(moved[j], Math.fround(base[j]! + expected.mean[k]![j]!), `${w.name}[${j}]`);
      }
    });

    // Round 2: 5 of 10 gone before their input, fewer than the threshold 6.
    const second = await runRound(2, Array(5).fill("before input"));
    assert.deepEqual(second.results.map((r) => r.kind), Array(5).fill("failed"));
    const failed = federation.status().history[2]!;
    assert.match(
      failed.keptBecause!,
      /5 clients sent their masked input, fewer than the threshold 6/,
    );
    assert.ok(!second.stagesSeen.has("unmask"), "no client was asked to reveal a share");
    assert.deepEqual(
      decodeSafetensors(federation.globalModel().safetensors).tensors.get("logits/bias")!.data,
      after.get("logits/bias")!.data,
    );
  } finally {
    await coordinator.shutdown();
  }
});
