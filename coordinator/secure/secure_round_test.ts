// The coordinator's secure round on its own, driven by real SecAggClient
// stages: messages out of stage, from clients outside the stage's set, or
// asking for what the protocol forbids are refused with the reason and change
// nothing; the stages close at their quorum or deadline; a round restored
// from its recorded events is where it was and ends with the same sum.
import assert from "node:assert/strict";
import { type RevealedShare, SecAggClient } from "../../shared/secagg/client.ts";
import { secureParams } from "../../shared/secagg/params.ts";
import { addModular } from "../../shared/secagg/quantize.ts";
import { ApiError } from "../http/errors.ts";
import { type SecureEvent, type SecureOutcome, SecureRound } from "./secure_round.ts";

const settings = { clipRange: 1, bits: 32, maxWeight: 100, stageTimeoutSeconds: 0.2 };
const params = secureParams(settings, { targetClients: 4, minClients: 4 });
const ids = ["a", "b", "c", "d"];
const LENGTH = 16;

function refused(fn: () => void, status: number, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ApiError, String(error));
    assert.equal(error.status, status);
    assert.match(error.message, message);
    return true;
  });
}

function setup(events: SecureEvent[] = []) {
  const outcomes: SecureOutcome[] = [];
  const recorded: SecureEvent[] = [...events];
  const round = SecureRound.create({
    round: 1,
    params,
    graphSeed: 1,
    inputLength: LENGTH,
    target: 4,
    quorum: 4,
    record: (e) => recorded.push(e),
    onDone: (o) => outcomes.push(o),
  }, events);
  return { round, outcomes, recorded };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), "timed out");
};

Deno.test("a secure round refuses what is out of stage, out of set or forbidden, and changes nothing", async () => {
  const { round, outcomes, recorded } = await setup();
  try {
    const clients = await Promise.all(
      ids.map((id) => SecAggClient.create(id, { round: 1, threshold: params.threshold, bits: 32 })),
    );
    refused(() => round.addShares("a", []), 409, /at stage "keys", not "shares"/);
    refused(
      () =>
        round.addKeys({ id: "a", encryptionKey: new Uint8Array(5), maskKey: new Uint8Array(32) }),
      400,
      /32 bytes/,
    );
    for (const c of clients) round.addKeys(c.publicKeys());
    // A resend of the same keys is fine; other keys from the same client are not.
    round.addKeys(clients[0]!.publicKeys());
    assert.equal(round.stage, "shares");
    const before = recorded.length;
    refused(
      () => round.addKeys({ ...clients[1]!.publicKeys(), id: "a" }),
      409,
      /at stage "shares"/,
    );
    refused(() => round.addShares("e", []), 409, /"e" did not advertise keys/);
    refused(() => round.addShares("a", []), 400, /one to each of its 3 neighbours/);
    assert.equal(recorded.length, before, "a refused message records nothing");
    // Every client shares keys with the neighbours the round gives it.
    const keys = new Map(clients.map((c) => [c.id, c.publicKeys()]));
    for (const c of clients) {
      const neighbours = round.stateFor(c.id).neighbours!.map((n) => keys.get(n.id)!);
      round.addShares(c.id, await c.shareKeys(neighbours));
    }
    assert.equal(round.stage, "input");
    refused(() => round.addInput("a", new Uint32Array(3)), 400, /3 values, the task's 16/);
    const inputs = ids.map((_, i) => Uint32Array.from({ length: LENGTH }, (_, j) => i * 100 + j));
    // Three inputs; "d" drops before its input.
    for (const [i, c] of clients.slice(0, 3).entries()) {
      const sealed = round.stateFor(c.id).shares!.map((s) => ({
        from: s.from,
        to: c.id,
        ciphertext: Uint8Array.from(atob(s.ciphertext), (ch) => ch.charCodeAt(0)),
      }));
      round.addInput(c.id, await c.maskInput(inputs[i]!, sealed));
    }
    assert.equal(round.stage, "input");
    await until(() => round.stage === "unmask");
    assert.deepEqual(round.stateFor("a").dropped, ["d"]);
    assert.equal(round.stateFor("d").participant, false);
    // A client may not reveal the mask key of a survivor (which would unmask its input).
    const forbidden: RevealedShare = {
      from: "a",
      about: "b",
      kind: "mask key",
      share: new Uint8Array(33),
    };
    refused(() => round.addReveal("a", [forbidden]), 400, /no mask key share of "b"/);
    refused(() => round.addReveal("d", []), 409, /"d" sent no masked input/);
    for (const c of clients.slice(0, 3)) {
      const s = round.stateFor(c.id);
      round.addReveal(c.id, c.revealShares(new Set(s.survivors), new Set(s.dropped)));
    }
    await until(() => outcomes.length === 1);
    const outcome = outcomes[0]!;
    assert.equal(outcome.kind, "sum");
    const expected = new Uint32Array(LENGTH);
    for (const input of inputs.slice(0, 3)) addModular(expected, input, 1, 32);
    assert.deepEqual(outcome.kind === "sum" && [...outcome.sum], [...expected]);
    assert.equal(round.stage, "done");

    // The same events, replayed, give a round that ends with the same sum.
    const restored = await setup(
      recorded.filter((e) => !(e.kind === "advance" && e.to === "done")),
    );
    try {
      await until(() => restored.outcomes.length === 1);
      const again = restored.outcomes[0]!;
      assert.deepEqual(again.kind === "sum" && [...again.sum], [...expected]);
    } finally {
      restored.round.close();
    }
  } finally {
    round.close();
  }
});

Deno.test("a shares stage that ends below the threshold fails the round, with nothing asked to reveal", async () => {
  const { round, outcomes } = await setup();
  try {
    const clients = await Promise.all(
      ids.map((id) => SecAggClient.create(id, { round: 1, threshold: params.threshold, bits: 32 })),
    );
    for (const c of clients) round.addKeys(c.publicKeys());
    const keys = new Map(clients.map((c) => [c.id, c.publicKeys()]));
    // Only "a" shares before the deadline.
    const a = clients[0]!;
    round.addShares(
      "a",
      await a.shareKeys(round.stateFor("a").neighbours!.map((n) => keys.get(n.id)!)),
    );
    await until(() => outcomes.length === 1);
    assert.deepEqual(outcomes[0], {
      kind: "failed",
      reason:
        `1 clients shared their keys before the deadline, fewer than the threshold ${params.threshold}`,
      advertised: 4,
    });
    assert.equal(round.stage, "failed");
    assert.equal(
      round.stateFor("a").reason,
      outcomes[0]!.kind === "failed" ? outcomes[0]!.reason : "",
    );
  } finally {
    round.close();
  }
});

Deno.test("a secure task refuses the settings it cannot run with, saying why", async () => {
  const { Federation } = await import("../federation/federation.ts");
  const { buildModel } = await import("../../shared/model/model.ts");
  const { mnistMlpTask } = await import("../../shared/tasks/mnist_mlp.ts");
  const { SecureAggregationSchema, UpdateCodecSchema } = await import(
    "../../shared/schemas/mod.ts"
  );
  const base = mnistMlpTask({ rounds: { targetClients: 10 } });
  const secureAggregation = SecureAggregationSchema.parse({});
  const model = await buildModel(base.model.topology);
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { aggregation: { ...base.aggregation, strategy: "median" } },
      /strategy "median" needs each client's update/,
    ],
    [
      { aggregation: { ...base.aggregation, strategy: "krum", krumF: 1, krumM: 1 } },
      /strategy "krum"/,
    ],
    [{ rounds: { ...base.rounds, mode: "async" } }, /use rounds.mode sync/],
    [{ codec: UpdateCodecSchema.parse("int8") }, /codec "int8"/],
    [{ updates: { ...base.updates, maxNorm: 10 } }, /updates.maxNorm/],
    [
      { secureAggregation: { ...secureAggregation, threshold: 11 } },
      /threshold: 11 is above the 10 holders/,
    ],
  ];
  try {
    for (const [change, message] of cases) {
      await assert.rejects(
        Federation.create({ task: { ...base, secureAggregation, ...change }, model }),
        message,
      );
    }
  } finally {
    model.dispose();
  }
});
