// One secure-aggregation round in memory, through the clients' stages and the
// coordinator's functions, with nothing but the messages passing between
// them: the coordinator gets exactly the sum of the inputs of the clients that
// sent one, with clients dropping before sharing keys, after sharing and
// before their input, and after their input; a masked input alone looks like
// noise; too few survivors fail cleanly; a client refuses to reveal both
// shares of one neighbour.
import assert from "node:assert/strict";
import { seededRandom } from "../random.ts";
import { type PublicKeys, type RevealedShare, SecAggClient } from "./client.ts";
import { neighbourGraph } from "./graph.ts";
import { addModular } from "./quantize.ts";
import { routeShares, unmask, UnmaskError } from "./server.ts";

interface Scenario {
  n: number;
  threshold: number;
  degree: number;
  /** Clients gone before sharing keys, after sharing keys, after sending their input. */
  beforeShares?: number;
  beforeInput?: number;
  afterInput?: number;
  /** Stop before stage 3 (the clients keep their shares). */
  noReveal?: boolean;
}

async function runRound(s: Scenario, seed: number) {
  const params = { round: 3, threshold: s.threshold, bits: 32 };
  const random = seededRandom(seed);
  const ids = Array.from({ length: s.n }, (_, i) => `client-${String(i).padStart(2, "0")}`);
  const clients = new Map(
    await Promise.all(ids.map(async (id) => [id, await SecAggClient.create(id, params)] as const)),
  );
  const graph = neighbourGraph(ids, { degree: s.degree, seed });
  const inputs = new Map(
    ids.map((id) => [id, Uint32Array.from({ length: 64 }, () => Math.floor(random() * 2 ** 32))]),
  );
  const order = [...ids].sort(() => random() - 0.5);
  const goneBeforeShares = new Set(order.splice(0, s.beforeShares ?? 0));
  const goneBeforeInput = new Set(order.splice(0, s.beforeInput ?? 0));
  const goneAfterInput = new Set(order.splice(0, s.afterInput ?? 0));

  // Stage 0: keys. Stage 1: those still there share keys with their advertised neighbours.
  const advertised = new Map<string, PublicKeys>(
    ids.filter((id) => !goneBeforeShares.has(id)).map((id) => [id, clients.get(id)!.publicKeys()]),
  );
  const sealed = [];
  const shared = new Map<string, PublicKeys>();
  for (const id of advertised.keys()) {
    const neighbours = [...graph.get(id)!].filter((n) => advertised.has(n)).map((n) =>
      advertised.get(n)!
    );
    sealed.push(...await clients.get(id)!.shareKeys(neighbours));
    shared.set(id, advertised.get(id)!);
  }
  const routed = routeShares(sealed);
  // Stage 2: masked inputs.
  const maskedInputs = new Map<string, Uint32Array>();
  for (const id of shared.keys()) {
    if (goneBeforeInput.has(id)) continue;
    maskedInputs.set(id, await clients.get(id)!.maskInput(inputs.get(id)!, routed.get(id) ?? []));
  }
  // Stage 3: the survivors still there reveal.
  const survivors = new Set(maskedInputs.keys());
  const dropped = new Set([...shared.keys()].filter((id) => !survivors.has(id)));
  const revealed: RevealedShare[] = [];
  for (const id of survivors) {
    if (goneAfterInput.has(id) || s.noReveal) continue;
    revealed.push(...clients.get(id)!.revealShares(survivors, dropped));
  }
  const expected = new Uint32Array(64);
  for (const id of survivors) addModular(expected, inputs.get(id)!, 1, 32);
  return {
    params,
    shared,
    graph,
    maskedInputs,
    revealed,
    expected,
    inputs,
    clients,
    survivors,
    dropped,
  };
}

/** The coordinator's unmasking of a round, from what it collected. */
const unmaskRound = (r: Awaited<ReturnType<typeof runRound>>, revealed = r.revealed) =>
  unmask({
    params: r.params,
    keys: r.shared,
    graph: r.graph,
    maskedInputs: r.maskedInputs,
    revealed,
  });

Deno.test("the coordinator gets exactly the survivors' sum, with clients dropping at every stage", async () => {
  const scenarios: Scenario[] = [
    { n: 3, threshold: 2, degree: 2 },
    { n: 10, threshold: 6, degree: 9 },
    // Dropouts at most degree + 1 - threshold, so every secret keeps enough holders.
    { n: 10, threshold: 4, degree: 6, beforeShares: 1, beforeInput: 1, afterInput: 1 },
    { n: 20, threshold: 5, degree: 10, beforeShares: 2, beforeInput: 2, afterInput: 2 },
    { n: 10, threshold: 6, degree: 9, beforeInput: 3, afterInput: 1 },
  ];
  for (const [i, s] of scenarios.entries()) {
    const r = await runRound(s, 100 + i);
    const { sum, survivors } = await unmaskRound(r);
    assert.deepEqual(sum, r.expected, `scenario ${i}`);
    assert.deepEqual(survivors, [...r.survivors].sort());
    // One masked input tells nothing of its input: it differs from it almost everywhere.
    const [one] = r.maskedInputs.keys();
    const masked = r.maskedInputs.get(one!)!;
    const same = masked.filter((v, k) => v === r.inputs.get(one!)![k]).length;
    assert.ok(same <= 1, `${same} values of a masked input equal its input`);
  }
});

Deno.test("with fewer survivors than the threshold the round fails and no client reveals", async () => {
  const r = await runRound({ n: 6, threshold: 5, degree: 5, beforeInput: 2, noReveal: true }, 7);
  // The clients refuse to reveal for fewer survivors than the threshold...
  for (const id of r.survivors) {
    assert.throws(
      () => r.clients.get(id)!.revealShares(r.survivors, r.dropped),
      /fewer than the threshold 5/,
    );
  }
  // ... and the coordinator cannot unmask from too few inputs.
  await assert.rejects(
    unmaskRound(r, []),
    (error) =>
      error instanceof UnmaskError &&
      /4 clients sent their input, fewer than the threshold 5/.test(error.message),
  );
});

Deno.test("too few revealed shares fail cleanly; a client never reveals both shares of one neighbour", async () => {
  const r = await runRound({ n: 8, threshold: 6, degree: 7, afterInput: 3 }, 9);
  await assert.rejects(
    unmaskRound(r),
    /fewer than the threshold 6/,
  );
  const fresh = await runRound({ n: 4, threshold: 2, degree: 3, noReveal: true }, 10);
  const [a, b] = [...fresh.survivors];
  assert.throws(
    () => fresh.clients.get(a!)!.revealShares(new Set([a!, b!]), new Set([b!])),
    /both sent its input and dropped/,
  );
  const solo = await SecAggClient.create("solo", { round: 1, threshold: 2, bits: 32 });
  assert.throws(() => solo.revealShares(new Set(), new Set()), /out of order/);
});
