import assert from "node:assert/strict";
import {
  type ClientPartition,
  partition,
  type PartitionOptions,
  splitHoldout,
} from "./partition.ts";

/** 1000 rows with labels 0..9 in equal numbers. */
const LABELS = Array.from({ length: 1000 }, (_, i) => (i * 7) % 10);
const ALL_ROWS = [...LABELS.keys()];

function sorted(xs: Iterable<number>): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** The partition as plain arrays, for deepEqual. */
function plain(parts: ClientPartition[]): { rows: number[]; unlabeled: number[] }[] {
  return parts.map((p) => ({ rows: [...p.rows], unlabeled: sorted(p.unlabeledRows) }));
}

function assertCoversExactlyOnce(parts: ClientPartition[], rows: readonly number[]) {
  const all = parts.flatMap((p) => p.rows);
  assert.equal(all.length, rows.length, "total rows");
  assert.equal(new Set(all).size, all.length, "no row twice");
  assert.deepEqual(sorted(all), sorted(rows));
}

/** Average over clients of the share of the client's most common label. */
function meanTopLabelShare(parts: ClientPartition[], labels: readonly number[]): number {
  const shares = parts.map((p) => {
    const counts = new Map<number, number>();
    for (const r of p.rows) counts.set(labels[r]!, (counts.get(labels[r]!) ?? 0) + 1);
    return Math.max(...counts.values()) / p.rows.length;
  });
  return shares.reduce((a, b) => a + b, 0) / shares.length;
}

const SETUPS: [string, PartitionOptions][] = [
  ["IID", { clients: 7, seed: 3 }],
  ["Dirichlet(0.5)", { clients: 7, beta: 0.5, seed: 3 }],
  ["Dirichlet(0.1)", { clients: 5, beta: 0.1, seed: 11, labeledFraction: 0.2 }],
];

Deno.test("partition() puts every row in exactly one client", async (t) => {
  for (const [name, options] of SETUPS) {
    await t.step(`${name}, all rows`, () => {
      const parts = partition(LABELS, ALL_ROWS, options);
      assert.equal(parts.length, options.clients);
      assertCoversExactlyOnce(parts, ALL_ROWS);
    });
    await t.step(`${name}, a subset of rows`, () => {
      const rows = ALL_ROWS.filter((r) => r % 3 !== 0);
      const parts = partition(LABELS, rows, options);
      assertCoversExactlyOnce(parts, rows);
    });
  }
});

Deno.test("partition() is determined by its seed", async (t) => {
  for (const [name, options] of SETUPS) {
    await t.step(name, () => {
      const a = plain(partition(LABELS, ALL_ROWS, options));
      const b = plain(partition(LABELS, ALL_ROWS, options));
      assert.deepEqual(a, b);
      const c = plain(partition(LABELS, ALL_ROWS, { ...options, seed: (options.seed ?? 0) + 1 }));
      assert.notDeepEqual(c, a);
      // Not only the order within clients: the client of some row changes.
      const clientOf = (parts: { rows: number[] }[]) => {
        const owner = new Array<number>(LABELS.length);
        parts.forEach((p, i) => p.rows.forEach((r) => owner[r] = i));
        return owner;
      };
      assert.notDeepEqual(clientOf(c), clientOf(a));
    });
  }

  await t.step("seed defaults to 0", () => {
    assert.deepEqual(
      plain(partition(LABELS, ALL_ROWS, { clients: 4 })),
      plain(partition(LABELS, ALL_ROWS, { clients: 4, seed: 0 })),
    );
  });
});

Deno.test("partition() hides all but labeledFraction of each client's labels", async (t) => {
  const cases: [string, PartitionOptions, (n: number) => number][] = [
    // 1000 / 8 = 125 rows each; 125 * 0.1 = 12.5 rounds to 13
    ["IID 0.1", { clients: 8, labeledFraction: 0.1, seed: 1 }, () => 13],
    [
      "Dirichlet 0.3",
      { clients: 6, beta: 0.5, labeledFraction: 0.3, seed: 2 },
      (n) => Math.round(n * 0.3),
    ],
    // 25 rows * 0.01 = 0.25 rounds to 0, raised to 1
    ["IID 0.01", { clients: 40, labeledFraction: 0.01, seed: 4 }, () => 1],
    ["IID 0", { clients: 4, labeledFraction: 0, seed: 5 }, () => 0],
    ["IID 1", { clients: 4, labeledFraction: 1, seed: 6 }, (n) => n],
    ["default 1", { clients: 3, beta: 0.2, seed: 6 }, (n) => n],
  ];
  for (const [name, options, labeledOf] of cases) {
    await t.step(name, () => {
      const parts = partition(LABELS, ALL_ROWS, options);
      for (const p of parts) {
        const rows = new Set(p.rows);
        for (const r of p.unlabeledRows) assert.ok(rows.has(r), `hidden row ${r} not in client`);
        assert.equal(p.rows.length - p.unlabeledRows.size, labeledOf(p.rows.length));
      }
    });
  }

  await t.step("the hidden rows differ between clients and are not a fixed block", () => {
    const parts = partition(LABELS, ALL_ROWS, { clients: 2, labeledFraction: 0.5, seed: 9 });
    const [a, b] = parts;
    assert.ok(a && b);
    for (const r of a.unlabeledRows) assert.ok(!b.unlabeledRows.has(r));
  });
});

Deno.test("partition() IID gives near-equal sizes", () => {
  for (const [rows, clients] of [[1000, 7], [103, 4], [10, 10], [12, 5]] as const) {
    const parts = partition(LABELS, ALL_ROWS.slice(0, rows), { clients, seed: 1 });
    const sizes = parts.map((p) => p.rows.length);
    assert.equal(sizes.reduce((a, b) => a + b, 0), rows);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes}`);
    assert.ok(Math.min(...sizes) === Math.floor(rows / clients), `sizes ${sizes}`);
  }
});

Deno.test("partition() Dirichlet with small beta is skewed by label", () => {
  // Under IID each client of 200 rows holds about 10% of each label; with
  // Dirichlet(0.1) most of a client's rows come from one or two labels.
  for (const seed of [1, 2, 3, 4, 5]) {
    const iid = meanTopLabelShare(partition(LABELS, ALL_ROWS, { clients: 5, seed }), LABELS);
    const skewed = partition(LABELS, ALL_ROWS, { clients: 5, beta: 0.1, seed, minRows: 30 });
    const share = meanTopLabelShare(skewed, LABELS);
    assert.ok(iid < 0.2, `seed ${seed}: IID top share ${iid}`);
    assert.ok(share > 0.35, `seed ${seed}: Dirichlet top share ${share}`);
    assert.ok(share > 2 * iid, `seed ${seed}: ${share} vs IID ${iid}`);
    for (const p of skewed) assert.ok(p.rows.length >= 30, `client of ${p.rows.length} rows`);
    // sizes are uneven, unlike IID
    const sizes = skewed.map((p) => p.rows.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) > 1, `sizes ${sizes}`);
  }
});

Deno.test("partition() Dirichlet keeps the default minRows of 10", () => {
  for (const seed of [1, 2, 3]) {
    const parts = partition(LABELS, ALL_ROWS, { clients: 20, beta: 0.3, seed });
    assertCoversExactlyOnce(parts, ALL_ROWS);
    for (const p of parts) assert.ok(p.rows.length >= 10, `client of ${p.rows.length} rows`);
    assert.ok(parts.some((p) => p.rows.length < 40)); // uneven: 10 is a binding floor
  }
});

Deno.test("partition() throws RangeError when no Dirichlet draw meets minRows", () => {
  // 3 labels over 10 clients with beta 0.1: nearly every draw leaves most
  // clients (almost) empty, so 10 rows each is out of reach.
  const labels = Array.from({ length: 300 }, (_, i) => i % 3);
  assert.throws(
    () => partition(labels, [...labels.keys()], { clients: 10, beta: 0.1, seed: 1 }),
    RangeError,
  );
});

Deno.test("partition() throws RangeError on invalid options", async (t) => {
  const bad: [string, PartitionOptions][] = [
    ["clients 0", { clients: 0 }],
    ["clients -1", { clients: -1 }],
    ["clients 1.5", { clients: 1.5 }],
    ["more clients than rows", { clients: 1001 }],
    ["beta 0", { clients: 2, beta: 0 }],
    ["beta -0.5", { clients: 2, beta: -0.5 }],
    ["beta NaN", { clients: 2, beta: NaN }],
    ["labeledFraction 1.1", { clients: 2, labeledFraction: 1.1 }],
    ["labeledFraction -0.1", { clients: 2, labeledFraction: -0.1 }],
    ["labeledFraction NaN", { clients: 2, labeledFraction: NaN }],
  ];
  for (const [name, options] of bad) {
    await t.step(name, () => {
      assert.throws(() => partition(LABELS, ALL_ROWS, options), RangeError);
    });
  }

  await t.step("as many clients as rows is allowed", () => {
    const parts = partition(LABELS, [4, 5, 6], { clients: 3 });
    assert.deepEqual(sorted(parts.map((p) => p.rows.length)), [1, 1, 1]);
  });
});

Deno.test("splitHoldout() splits rows into a seeded train and holdout part", async (t) => {
  await t.step("sizes, disjointness and coverage", () => {
    for (const [n, fraction] of [[10, 0.2], [101, 0.1], [7, 0.5], [50, 0]] as const) {
      const { train, holdout } = splitHoldout(n, { holdoutFraction: fraction, seed: 3 });
      assert.equal(holdout.length, Math.round(n * fraction));
      assert.equal(train.length, n - holdout.length);
      const trainSet = new Set(train);
      for (const r of holdout) assert.ok(!trainSet.has(r), `row ${r} in both parts`);
      assert.deepEqual(sorted([...train, ...holdout]), Array.from({ length: n }, (_, i) => i));
    }
  });

  await t.step("is determined by its seed", () => {
    const a = splitHoldout(100, { holdoutFraction: 0.2, seed: 5 });
    assert.deepEqual(splitHoldout(100, { holdoutFraction: 0.2, seed: 5 }), a);
    const b = splitHoldout(100, { holdoutFraction: 0.2, seed: 6 });
    assert.notDeepEqual(sorted(b.holdout), sorted(a.holdout));
    assert.deepEqual(
      splitHoldout(100, { holdoutFraction: 0.2 }),
      splitHoldout(100, { holdoutFraction: 0.2, seed: 0 }),
    );
  });

  await t.step("the holdout is not just the first or last rows", () => {
    const { holdout } = splitHoldout(100, { holdoutFraction: 0.2, seed: 5 });
    const s = sorted(holdout);
    assert.notDeepEqual(s, Array.from({ length: 20 }, (_, i) => i));
    assert.notDeepEqual(s, Array.from({ length: 20 }, (_, i) => 80 + i));
  });

  await t.step("throws RangeError on a fraction outside [0, 1)", () => {
    for (const holdoutFraction of [1, 1.5, -0.1, NaN]) {
      assert.throws(() => splitHoldout(10, { holdoutFraction }), RangeError);
    }
  });
});
