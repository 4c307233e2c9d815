// Central differential privacy in the federation: over many rounds of the
// same two updates (one far past the L2 bound), the global moves by the
// clipped sum over the fixed denominator plus Gaussian noise of exactly the
// configured standard deviation (its residuals are standard normal); epsilon
// is reported after every round and grows; maxEpsilon ends the run, with the
// final model, before the round that would pass it; clients are drawn by
// Poisson sampling from a secret seed, not the public hash.
import assert from "node:assert/strict";
import { buildModel } from "../../shared/model/model.ts";
import { encodeSafetensors, type Float32Tensor } from "../../shared/wire/safetensors.ts";
import { PrivacySchema, TaskConfigSchema } from "../../shared/schemas/mod.ts";
import { dense, sequential } from "../../shared/tasks/layers.ts";
import { isSelected } from "../federation/select_clients.ts";
import { isDrawn, spentAfter } from "./privacy_task.ts";
import { Federation } from "../federation/federation.ts";
import { ApiError } from "../http/errors.ts";
import { elementCount } from "../../shared/shape.ts";

const topology = sequential("tiny", [dense("dense1", 3, "linear", [4])]);

function task(rounds: number, privacy: Record<string, unknown>, fraction = 1) {
  return TaskConfigSchema.parse({
    id: "dp-tiny",
    model: { topology },
    input: { shape: [4], labels: ["a", "b", "c"] },
    rounds: { total: rounds, targetClients: 2, minClients: 2, timeoutSeconds: 600, fraction },
    training: { evaluate: false },
    privacy: PrivacySchema.parse(privacy),
  });
}

function body(federation: Federation, clientId: string, scale: number): Uint8Array {
  const tensors = new Map<string, Float32Tensor>();
  for (const { name, shape } of federation.trainable) {
    const n = elementCount(shape);
    tensors.set(name, {
      shape,
      data: Float32Array.from({ length: n }, (_, i) => scale * (i % 3 - 1)),
    });
  }
  return encodeSafetensors(tensors, {
    round: String(federation.round),
    baseVersion: String(federation.version),
    numLabeled: "10",
    numUnlabeled: "0",
    clientId,
  });
}

Deno.test("central mode: clipped sum over the fixed denominator plus noise of z x C, epsilon every round", async () => {
  const { decodeSafetensors } = await import("../../shared/wire/safetensors.ts");
  const global = (f: Federation) => {
    const t = decodeSafetensors(f.globalModel().safetensors).tensors;
    return f.trainable.flatMap((w) => [...t.get(w.name)!.data]);
  };
  const rounds = 150;
  const z = 0.5;
  const clip = 0.1;
  const config = task(rounds, { mode: "central", noiseMultiplier: z, clip });
  const model = await buildModel(config.model.topology);
  const federation = await Federation.create({ task: config, model });
  try {
    const residuals: number[] = [];
    for (let r = 1; r <= rounds; r++) {
      const before = global(federation);
      // "small" is within the bound (norm 0.0316), "huge" far past it (norm 316).
      federation.submit(body(federation, "small", 0.01));
      federation.submit(body(federation, "huge", 100));
      await federation.settled();
      const after = global(federation);
      const smallNorm = 0.01 * Math.sqrt(10);
      const pattern = Array.from({ length: before.length }, (_, i) => (i % 3) - 1);
      // The huge update contributes clip / its norm of itself: the direction at length C.
      const expected = pattern.map((p) => (0.01 * p + (clip / Math.sqrt(10)) * p) / 2);
      assert.ok(smallNorm < clip);
      for (let i = 0; i < before.length; i++) {
        residuals.push((after[i]! - before[i]! - expected[i]!) / ((z * clip) / 2));
      }
      const h = federation.status().history[r]!;
      assert.ok(h.privacy, "the round reports its privacy");
      assert.equal(
        h.privacy.epsilon,
        spentAfter({
          ...h.privacy,
          adaptive: null,
          maxEpsilon: null,
          mode: "central",
          population: 2,
          fewest: 2,
          noiseShareStd: 0,
        }, r),
      );
      if (r > 1) {
        assert.ok(h.privacy.epsilon > federation.status().history[r - 1]!.privacy!.epsilon);
      }
    }
    const n = residuals.length;
    const mean = residuals.reduce((a, b) => a + b, 0) / n;
    const variance = residuals.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
    // Standard normal residuals: mean within 4 standard errors of 0, variance within 4 of 1.
    assert.ok(Math.abs(mean) < 4 / Math.sqrt(n), `mean ${mean} over ${n}`);
    assert.ok(Math.abs(variance - 1) < 4 * Math.sqrt(2 / n), `variance ${variance} over ${n}`);
    assert.equal(federation.status().privacy?.stoppedBecause, null);
  } finally {
    federation.close();
    model.dispose();
  }
});

Deno.test("maxEpsilon ends the run before the round that would pass it, with the reason", async () => {
  const probe = task(100, { mode: "central", noiseMultiplier: 2, clip: 1 });
  const model = await buildModel(probe.model.topology);
  // A budget between the epsilon of 3 rounds and of 4.
  const params = {
    mode: "central" as const,
    noiseMultiplier: 2,
    clip: 1,
    adaptive: null,
    delta: 1 / 2 ** 1.1,
    maxEpsilon: null,
    sampleRate: 1,
    population: 2,
    expectedClients: 2,
    fewest: 2,
    noiseShareStd: 0,
  };
  const maxEpsilon = (spentAfter(params, 3) + spentAfter(params, 4)) / 2;
  const federation = await Federation.create({
    task: task(100, { mode: "central", noiseMultiplier: 2, clip: 1, maxEpsilon }),
    model,
  });
  try {
    for (let r = 1; r <= 3; r++) {
      federation.submit(body(federation, "a", 0.01));
      federation.submit(body(federation, "b", 0.01));
      await federation.settled();
    }
    const status = federation.status();
    assert.equal(status.phase, "finished");
    assert.deepEqual(status.history.map((h) => h.round), [0, 1, 2, 3]);
    assert.ok(status.privacy!.epsilon <= maxEpsilon);
    assert.match(
      status.privacy!.stoppedBecause!,
      /round 4 would take epsilon to .*past maxEpsilon/,
    );
    // A budget below one round is refused at once, naming it.
    await assert.rejects(
      Federation.create({
        task: task(10, { mode: "central", noiseMultiplier: 2, clip: 1, maxEpsilon: 0.01 }),
        model,
      }),
      /privacy.maxEpsilon 0.01 is below the epsilon of one round/,
    );
  } finally {
    federation.close();
    model.dispose();
  }
});

Deno.test("under DP, clients are drawn by Poisson sampling from a secret seed", async () => {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const other = crypto.getRandomValues(new Uint8Array(32));
  const ids = Array.from({ length: 4000 }, (_, i) => `c${i}`);
  const drawn = (s: Uint8Array, round: number) =>
    ids.filter((clientId) => isDrawn(s, { taskId: "t", clientId, round, sampleRate: 0.1 }));
  const a = drawn(secret, 1);
  // About q x N, independent of the public hash and of another secret.
  assert.ok(Math.abs(a.length - 400) < 4 * Math.sqrt(4000 * 0.1 * 0.9), `${a.length}`);
  const publicDraw = new Set(
    ids.filter((clientId) => isSelected({ taskId: "t", clientId, round: 1, fraction: 0.1 })),
  );
  const overlap = a.filter((id) => publicDraw.has(id)).length;
  assert.ok(overlap < 80, `overlap with the public hash ${overlap}`);
  assert.ok(drawn(other, 1).filter((id) => a.includes(id)).length < 80);
  assert.deepEqual(drawn(secret, 1), a, "the same secret draws the same");
  // The federation refuses a client that is not drawn, also past the deadline.
  const config = task(5, { mode: "central", noiseMultiplier: 1 }, 0.1);
  const model = await buildModel(config.model.topology);
  const federation = await Federation.create({ task: config, model });
  try {
    let refused = 0;
    for (const id of ids.slice(0, 200)) {
      try {
        federation.join(id);
      } catch (error) {
        assert.ok(error instanceof ApiError && error.code === "not_selected");
        assert.match(error.message, /Poisson sampling/);
        refused++;
      }
    }
    assert.ok(refused > 140 && refused < 200, `${refused} of 200 refused`);
  } finally {
    federation.close();
    model.dispose();
  }
});

Deno.test("distributed mode with secure aggregation: the unmasked sum carries the configured noise; the coordinator never clips or sees an update", async () => {
  const { startCoordinator } = await import("../serve.ts");
  const { CoordinatorClient } = await import("../../client/link/coordinator_client.ts");
  const { secureInput, secureSubmit } = await import("../../client/link/secure_submit.ts");
  const { decodeSafetensors } = await import("../../shared/wire/safetensors.ts");
  const { SecureAggregationSchema } = await import("../../shared/schemas/mod.ts");
  const rounds = 25;
  const z = 0.5;
  const clip = 0.1;
  const config = {
    ...task(rounds, { mode: "distributed", noiseMultiplier: z, clip }),
    secureAggregation: SecureAggregationSchema.parse({ stageTimeoutSeconds: 30 }),
  };
  const coordinator = await startCoordinator({ tasks: [{ config }], auth: "insecure" });
  const { federation } = coordinator;
  const global = () => {
    const t = decodeSafetensors(federation.globalModel().safetensors).tensors;
    return federation.trainable.flatMap((w) => [...t.get(w.name)!.data]);
  };
  try {
    const residuals: number[] = [];
    const api = new CoordinatorClient(coordinator.url);
    const served = await api.task();
    const n = global().length;
    const pattern = Array.from({ length: n }, (_, i) => (i % 3) - 1);
    for (let r = 1; r <= rounds; r++) {
      const before = global();
      await Promise.all([["small", 0.01], ["huge", 100]].map(async ([id, scale]) => {
        const clientId = id as string;
        await api.model({ clientId });
        const delta = new Map(federation.trainable.map((w) => [w.name, {
          data: Float32Array.from(
            { length: elementCount(w.shape) },
            (_, i) => (scale as number) * ((i % 3) - 1),
          ),
        }]));
        const result = await secureSubmit({
          api: api.secure,
          clientId,
          task: served,
          round: r,
          input: secureInput(served, delta, { numLabeled: 10, numUnlabeled: 0 }),
          pollMs: 10,
        });
        assert.equal(result.kind, "done");
      }));
      await federation.settled();
      const after = global();
      // Each client clipped its own update (the coordinator cannot); the sum
      // over the fixed denominator 2, noise of z x C in the sum.
      const expected = pattern.map((p) => (0.01 * p + (clip / Math.sqrt(10)) * p) / 2);
      for (let i = 0; i < n; i++) {
        residuals.push((after[i]! - before[i]! - expected[i]!) / ((z * clip) / 2));
      }
      assert.ok(federation.status().history[r]!.privacy!.epsilon > 0);
    }
    const count = residuals.length;
    const mean = residuals.reduce((a, b) => a + b, 0) / count;
    const variance = residuals.reduce((a, b) => a + (b - mean) ** 2, 0) / (count - 1);
    assert.ok(Math.abs(mean) < 4 / Math.sqrt(count), `mean ${mean} over ${count}`);
    assert.ok(
      Math.abs(variance - 1) < 4 * Math.sqrt(2 / count),
      `variance ${variance} over ${count}`,
    );
    // A plain update, which the coordinator could clip and see, is refused.
    const refused = await fetch(`${coordinator.url}/v1/updates`, {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: body(federation, "plain", 1) as Uint8Array<ArrayBuffer>,
    });
    assert.equal(refused.status, 400);
    await refused.body?.cancel();
  } finally {
    await coordinator.shutdown();
  }
});

Deno.test("differential privacy refuses settings it cannot run with, saying why", async () => {
  const { SecureAggregationSchema } = await import("../../shared/schemas/mod.ts");
  const model = await buildModel(topology);
  const secure = SecureAggregationSchema.parse({});
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { privacy: PrivacySchema.parse({ mode: "distributed", noiseMultiplier: 1 }) },
      /distributed hides each client's noise share/,
    ],
    [{ secureAggregation: secure }, /mode central needs the coordinator to clip/],
    [{
      privacy: PrivacySchema.parse({ mode: "distributed", noiseMultiplier: 1, adaptive: {} }),
      secureAggregation: secure,
    }, /privacy.adaptive needs each update's norm/],
    [
      { aggregation: { strategy: "median", unlabeledWeight: 0.5, acceptFailures: true } },
      /strategy "median" is not a sum/,
    ],
    [{
      privacy: PrivacySchema.parse({ mode: "distributed", noiseMultiplier: 5, clip: 1 }),
      secureAggregation: secure,
    }, /secureAggregation.clipRange 1 would cut the noise/],
    [{
      privacy: PrivacySchema.parse({
        mode: "central",
        noiseMultiplier: 1,
        adaptive: { countStd: 0.1 },
      }),
    }, /countStd/],
  ];
  try {
    for (const [change, message] of cases) {
      await assert.rejects(
        Federation.create({
          task: { ...task(3, { mode: "central", noiseMultiplier: 1 }), ...change },
          model,
        }),
        message,
      );
    }
    assert.throws(() => PrivacySchema.parse({ mode: "central", noiseMultiplier: -1 }));
    assert.throws(() => PrivacySchema.parse({ mode: "central", noiseMultiplier: 1, delta: 1 }));
  } finally {
    model.dispose();
  }
});

Deno.test("adaptive clipping: the bound moves towards the target quantile of the update norms", async () => {
  // Both updates far within the bound (norm 0.03 against 1): the bound shrinks
  // geometrically, round by round, and each round reports the bound it used.
  const config = task(8, {
    mode: "central",
    noiseMultiplier: 1,
    clip: 1,
    adaptive: { targetQuantile: 0.5, learningRate: 0.5, countStd: 0.6 },
  });
  const model = await buildModel(config.model.topology);
  const federation = await Federation.create({ task: config, model });
  try {
    for (let r = 1; r <= 8; r++) {
      federation.submit(body(federation, "a", 0.01));
      federation.submit(body(federation, "b", 0.01));
      await federation.settled();
    }
    const clips = federation.status().history.slice(1).map((h) => h.privacy!.clip);
    assert.equal(clips[0], 1);
    for (let i = 1; i < clips.length; i++) {
      assert.equal(clips[i], federation.status().history[i]!.privacy!.nextClip);
    }
    assert.ok(clips[7]! < 0.8, `the bound after 7 moves is ${clips[7]}`);
  } finally {
    federation.close();
    model.dispose();
  }
});
