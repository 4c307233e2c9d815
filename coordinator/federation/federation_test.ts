import assert from "node:assert/strict";
import { startBackend } from "../../client/training/backend.ts";
import { buildModel } from "../../shared/model/model.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type Float32Tensor,
} from "../../shared/wire/safetensors.ts";
import type { TaskConfigInput } from "../../shared/schemas/mod.ts";
import { mnistMlpTask } from "../../shared/tasks/mnist_mlp.ts";
import { Federation } from "./federation.ts";
import { elementCount } from "../../shared/shape.ts";

await startBackend("wasm");

function update(federation: Federation, clientId: string): Uint8Array {
  const tensors = new Map<string, Float32Tensor>(
    federation.trainable.map(({ name, shape }) => [name, {
      shape,
      data: new Float32Array(elementCount(shape)).fill(0.01),
    }]),
  );
  return encodeSafetensors(tensors, {
    round: String(federation.round),
    baseVersion: String(federation.version),
    numLabeled: "1",
    numUnlabeled: "1",
    clientId,
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withFederation(
  rounds: {
    total: number;
    targetClients: number;
    minClients: number;
    timeoutSeconds: number;
    minAvailable?: number;
  },
  fn: (federation: Federation) => Promise<void>,
): Promise<void> {
  const task = mnistMlpTask({ rounds });
  const model = await buildModel(task.model.topology);
  const federation = await Federation.create({ task, model });
  try {
    await fn(federation);
    await federation.settled();
  } finally {
    federation.close();
    model.dispose();
  }
}

Deno.test("Federation closes a round at its deadline once minClients updates arrived", async () => {
  await withFederation(
    { total: 3, targetClients: 5, minClients: 1, timeoutSeconds: 0.2 },
    async (f) => {
      f.submit(update(f, "a"));
      assert.equal(f.round, 1);
      await sleep(400);
      await f.settled();
      assert.equal(f.round, 2);
      assert.equal(f.status().history.at(-1)?.clients, 1);
    },
  );
});

Deno.test("Federation keeps a round open past its deadline until minClients arrive", async () => {
  await withFederation(
    { total: 3, targetClients: 5, minClients: 2, timeoutSeconds: 0.1 },
    async (f) => {
      f.submit(update(f, "a"));
      await sleep(300);
      assert.equal(f.round, 1, "one update is below minClients");
      assert.equal(f.status().phase, "training");
      f.submit(update(f, "b"));
      await f.settled();
      assert.equal(f.round, 2, "the second update closes the late round at once");
      assert.equal(f.status().history.at(-1)?.clients, 2);
    },
  );
});

Deno.test("Federation finishes after the last round and resolves finished", async () => {
  await withFederation(
    { total: 1, targetClients: 1, minClients: 1, timeoutSeconds: 600 },
    async (f) => {
      f.submit(update(f, "a"));
      await f.finished;
      const status = f.status();
      assert.equal(status.phase, "finished");
      assert.equal(status.version, 1);
      assert.equal(status.received, 0);
    },
  );
});

Deno.test("Federation lists clients that dropped mid-round as failures and goes on", async () => {
  await withFederation(
    { total: 3, targetClients: 3, minClients: 2, timeoutSeconds: 0.2 },
    async (f) => {
      // Three clients fetch the model; "c" drops out, "d" reports an error.
      for (const id of ["a", "b", "c"]) f.join(id);
      f.reportFailure({ clientId: "d", round: 1, reason: "out of memory" });
      f.submit(update(f, "a"));
      f.submit(update(f, "b"));
      await sleep(400);
      await f.settled();
      assert.equal(f.round, 2, "the round closed at its deadline with the quorum of 2");
      const closed = f.status().history.at(-1)!;
      assert.equal(closed.clients, 2);
      assert.equal(closed.strategy, "fedavg");
      assert.deepEqual(closed.failures, [
        { clientId: "d", reason: "out of memory" },
        { clientId: "c", reason: "no update before the round closed" },
      ]);
      assert.equal(closed.keptBecause, null);
      // Training goes on: round 2 is open and starts with no update.
      assert.equal(f.status().phase, "training");
      assert.equal(f.status().received, 0);
    },
  );
});

Deno.test("Federation refuses a failure report for a closed round or after an update", async () => {
  await withFederation(
    { total: 3, targetClients: 3, minClients: 1, timeoutSeconds: 600 },
    (f) => {
      assert.throws(
        () => f.reportFailure({ clientId: "a", round: 2, reason: "x" }),
        /round 2 is not open/,
      );
      f.submit(update(f, "a"));
      assert.throws(
        () => f.reportFailure({ clientId: "a", round: 1, reason: "x" }),
        /already sent an update/,
      );
      return Promise.resolve();
    },
  );
});

Deno.test("Federation refuses Krum settings that cannot work, naming them", async () => {
  const task = mnistMlpTask({
    rounds: { targetClients: 4 },
    aggregation: { strategy: "krum", krumF: 1 },
  });
  const model = await buildModel(task.model.topology);
  try {
    await assert.rejects(
      () => Federation.create({ task, model }),
      /rounds.targetClients must be above 2f \+ 2 = 4, got 4/,
    );
  } finally {
    model.dispose();
  }
});

/** An update whose metadata carries a federated evaluation of its base. */
function evaluatedUpdate(
  federation: Federation,
  clientId: string,
  evaluation: Record<string, string>,
): Uint8Array {
  const tensors = new Map<string, Float32Tensor>(
    federation.trainable.map(({ name, shape }) => [name, {
      shape,
      data: new Float32Array(elementCount(shape)),
    }]),
  );
  return encodeSafetensors(tensors, {
    round: String(federation.round),
    baseVersion: String(federation.version),
    numLabeled: "40",
    numUnlabeled: "10",
    clientId,
    ...evaluation,
  });
}

Deno.test("Federation aggregates the clients' evaluations of the global, weighted by examples", async () => {
  await withFederation(
    { total: 3, targetClients: 3, minClients: 3, timeoutSeconds: 600 },
    async (f) => {
      f.submit(evaluatedUpdate(f, "a", { evalAccuracy: "0.5", evalLoss: "1", evalExamples: "10" }));
      f.submit(evaluatedUpdate(f, "b", { evalAccuracy: "1", evalLoss: "0.2", evalExamples: "30" }));
      // A client without labeled rows sends no evaluation; it is not counted.
      f.submit(evaluatedUpdate(f, "c", {}));
      await f.settled();
      const federated = f.status().history.at(-1)!.federated!;
      assert.ok(Math.abs(federated.accuracy - (5 + 30) / 40) < 1e-12);
      assert.ok(Math.abs(federated.loss - (10 + 6) / 40) < 1e-12);
      assert.equal(federated.examples, 40);
      assert.equal(federated.clients, 2);
      assert.equal(f.status().history[0]!.federated, null, "round 0 has no client measure");
    },
  );
});

Deno.test("Federation refuses an update with an impossible evaluation, naming the field", async () => {
  await withFederation(
    { total: 3, targetClients: 3, minClients: 3, timeoutSeconds: 600 },
    (f) => {
      const cases: [Record<string, string>, RegExp][] = [
        [
          { evalAccuracy: "1.5", evalLoss: "1", evalExamples: "10" },
          /evalAccuracy must be at most 1/,
        ],
        [
          { evalAccuracy: "0.5", evalLoss: "1", evalExamples: "41" },
          /evalExamples must not exceed/,
        ],
        [{ evalAccuracy: "0.5" }, /come together/],
        [{ evalAccuracy: "x", evalLoss: "1", evalExamples: "1" }, /evalAccuracy must be a number/],
      ];
      for (const [evaluation, pattern] of cases) {
        assert.throws(() => f.submit(evaluatedUpdate(f, "a", evaluation)), pattern);
      }
      assert.equal(f.status().received, 0);
      return Promise.resolve();
    },
  );
});

Deno.test("Federation with rounds.fraction lets only the drawn clients in until the deadline", async () => {
  const task = mnistMlpTask({
    rounds: { total: 3, targetClients: 40, minClients: 2, timeoutSeconds: 0.3, fraction: 0.5 },
  });
  const model = await buildModel(task.model.topology);
  const federation = await Federation.create({ task, model });
  try {
    const ids = Array.from({ length: 40 }, (_, i) => `c${i}`);
    const drawn: string[] = [];
    for (const id of ids) {
      try {
        federation.join(id);
        drawn.push(id);
      } catch (error) {
        assert.match(String(error), /not drawn for round 1 \(fraction 0.5\)/);
        assert.equal((error as { code?: string }).code, "not_selected");
      }
    }
    assert.ok(drawn.length > 8 && drawn.length < 32, `${drawn.length} of 40 drawn`);
    // An update from a client not drawn is refused too, and changes nothing.
    const outsider = ids.find((id) => !drawn.includes(id))!;
    assert.throws(() => federation.submit(update(federation, outsider)), /not drawn/);
    assert.equal(federation.status().received, 0);
    federation.submit(update(federation, drawn[0]!));
    // After the deadline anyone may fill the quorum of 2.
    await sleep(500);
    assert.equal(federation.round, 1, "one update is below the quorum");
    federation.join(outsider);
    federation.submit(update(federation, outsider));
    await federation.settled();
    assert.equal(federation.round, 2);
    assert.equal(federation.status().history.at(-1)!.clients, 2);
  } finally {
    federation.close();
    model.dispose();
  }
});

Deno.test("Federation starts rounds only once rounds.minAvailable clients have shown up", async () => {
  await withFederation(
    { total: 3, targetClients: 3, minClients: 1, timeoutSeconds: 0.2, minAvailable: 3 },
    async (f) => {
      f.join("a");
      assert.throws(
        () => f.submit(update(f, "a")),
        /rounds start once 3 clients have joined \(1 so far\)/,
      );
      // The deadline does not run before the start: nothing closes.
      await sleep(400);
      assert.equal(f.round, 1);
      f.join("b");
      f.join("c");
      f.submit(update(f, "a"));
      // Now the clock runs: the round closes at its deadline with the quorum of 1.
      await sleep(400);
      await f.settled();
      assert.equal(f.round, 2);
      assert.equal(f.status().history.at(-1)!.clients, 1);
    },
  );
});

/**
 * One round of `task`'s federation fed `updates` in `order`; returns the new
 * global's dense1/kernel, the weights it started from and the round's update list.
 */
async function oneRound(
  aggregation: TaskConfigInput["aggregation"],
  order: string[],
  updates: (f: Federation, clientId: string) => Uint8Array,
) {
  const task = mnistMlpTask({
    rounds: {
      total: 1,
      targetClients: order.length,
      minClients: order.length,
      timeoutSeconds: 600,
    },
    aggregation,
  });
  const model = await buildModel(task.model.topology);
  const f = await Federation.create({ task, model });
  try {
    const start = decodeSafetensors(f.globalModel().safetensors).tensors.get("dense1/kernel")!.data;
    for (const id of order) f.submit(updates(f, id));
    await f.settled();
    return {
      start,
      global: decodeSafetensors(f.globalModel().safetensors).tensors.get("dense1/kernel")!.data,
      updates: f.status().history[1]!.updates.map((u) => u.clientId),
    };
  } finally {
    f.close();
    model.dispose();
  }
}

/** An update of `values(i)` in every tensor, with counts that differ by client. */
function updateOf(f: Federation, clientId: string, value: (i: number) => number): Uint8Array {
  const tensors = new Map<string, Float32Tensor>(
    f.trainable.map(({ name, shape }) => [name, {
      shape,
      data: Float32Array.from({ length: elementCount(shape) }, (_, i) => value(i)),
    }]),
  );
  const seed = clientId.charCodeAt(0);
  return encodeSafetensors(tensors, {
    round: "1",
    baseVersion: "0",
    numLabeled: String(3 + seed),
    numUnlabeled: String(11 * seed),
    clientId,
  });
}

const differing = (a: Float32Array, b: Float32Array) =>
  a.filter((v, i) => !Object.is(v, b[i])).length;

Deno.test("Federation's aggregate does not depend on the order updates arrive in", async () => {
  // FedAvg of seeded pseudo-random updates, so float sums depend on their order.
  const noisy = (f: Federation, clientId: string) => {
    let state = clientId.charCodeAt(0);
    const next = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5);
    return updateOf(f, clientId, () => next() / 7);
  };
  const orders = [["a", "b", "c"], ["c", "a", "b"], ["b", "c", "a"]];
  const fedavg = [];
  for (const order of orders) fedavg.push(await oneRound({}, order, noisy));
  for (const run of fedavg) {
    assert.ok(differing(run.global, run.start) > 0, "the round moved the model");
    assert.equal(differing(run.global, fedavg[0]!.global), 0, "the same global in every order");
    // The round lists its updates in client order, however they arrived.
    assert.deepEqual(run.updates, ["a", "b", "c"]);
  }
  // Krum (f 0, m 1) on a tie: a = +v, b = 0, c = -v all score |v|^2, and the tie goes to the
  // first in client order (a), not to the first to arrive.
  const tie = (f: Federation, clientId: string) =>
    updateOf(f, clientId, (i) => ({ a: 1, b: 0, c: -1 })[clientId]! * (((i % 13) - 6) / 500));
  const krum = [];
  for (const order of orders) {
    krum.push(await oneRound({ strategy: "krum", krumF: 0, krumM: 1 }, order, tie));
  }
  for (const [k, run] of krum.entries()) {
    const moved = run.global.map((v, i) => v - run.start[i]!);
    // a's step, +v, was taken.
    assert.ok(moved[0]! < 0 && moved[12]! > 0, `order ${orders[k]}: ${moved[0]}, ${moved[12]}`);
    assert.equal(differing(run.global, krum[0]!.global), 0, `order ${orders[k]}`);
  }
});

Deno.test("Federation bounds each update's L2 norm: reject or clip, as the task says", async () => {
  for (const overNorm of ["reject", "clip"] as const) {
    const task = {
      ...mnistMlpTask({
        rounds: { total: 2, targetClients: 1, minClients: 1, timeoutSeconds: 600 },
      }),
      updates: { maxNorm: 1, overNorm, maxExamples: 100_000 },
    };
    const model = await buildModel(task.model.topology);
    const federation = await Federation.create({ task, model });
    try {
      const before = decodeSafetensors(federation.globalModel().safetensors).tensors;
      // Every value 0.01: the norm is 0.01 * sqrt(values), far above 1.
      const values = federation.trainable.reduce(
        (n, w) => n + elementCount(w.shape),
        0,
      );
      const norm = 0.01 * Math.sqrt(values);
      if (overNorm === "reject") {
        assert.throws(
          () => federation.submit(update(federation, "a")),
          new RegExp(`L2 norm ${norm.toPrecision(6)} exceeds the bound 1`),
        );
        assert.equal(federation.status().received, 0);
        continue;
      }
      federation.submit(update(federation, "a"));
      await federation.settled();
      const after = decodeSafetensors(federation.globalModel().safetensors).tensors;
      let squares = 0;
      for (const [name, tensor] of after) {
        const base = before.get(name)!.data;
        tensor.data.forEach((v, i) => (squares += (v - base[i]!) ** 2));
      }
      assert.ok(Math.abs(Math.sqrt(squares) - 1) < 1e-3, `applied step norm ${Math.sqrt(squares)}`);
    } finally {
      federation.close();
      model.dispose();
    }
  }
});
