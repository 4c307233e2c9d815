import assert from "node:assert/strict";
import { stalenessWeight } from "./staleness.ts";

Deno.test("stalenessWeight() follows each documented formula", () => {
  for (const t of [0, 1, 2, 5, 9]) {
    assert.equal(stalenessWeight(t, { kind: "constant", a: 0.5, b: 4 }), 1);
    const polynomial = stalenessWeight(t, { kind: "polynomial", a: 0.5, b: 4 });
    assert.ok(Math.abs(polynomial - 1 / Math.sqrt(1 + t)) < 1e-12, `polynomial at ${t}`);
    assert.equal(
      stalenessWeight(t, { kind: "hinge", a: 10, b: 4 }),
      t <= 4 ? 1 : 1 / (10 * (t - 4) + 1),
    );
  }
});

Deno.test("stalenessWeight() polynomial follows its exponent a, not only the default 0.5", () => {
  for (const a of [0.25, 1, 2, 3.5]) {
    for (const t of [0, 1, 2, 5, 9, 40]) {
      const weight = stalenessWeight(t, { kind: "polynomial", a, b: 4 });
      const expected = 1 / Math.pow(1 + t, a);
      assert.ok(Math.abs(weight - expected) < 1e-12 * expected, `a ${a}, t ${t}: ${weight}`);
    }
  }
  // A larger exponent discounts a stale update more.
  assert.ok(
    stalenessWeight(3, { kind: "polynomial", a: 2, b: 4 }) <
      stalenessWeight(3, { kind: "polynomial", a: 1, b: 4 }),
  );
});

Deno.test("stalenessWeight() hinge follows its slope a and its knee b", () => {
  for (const [a, b] of [[1, 0], [0.5, 2], [4, 10]]) {
    for (const t of [0, 1, 2, 5, 10, 11, 30]) {
      assert.equal(
        stalenessWeight(t, { kind: "hinge", a: a!, b: b! }),
        t <= b! ? 1 : 1 / (a! * (t - b!) + 1),
        `a ${a}, b ${b}, t ${t}`,
      );
    }
  }
});

Deno.test("stalenessWeight() is 1 when fresh and does not grow with staleness", () => {
  for (const kind of ["constant", "polynomial", "hinge"] as const) {
    let previous = stalenessWeight(0, { kind, a: 0.5, b: 2 });
    assert.equal(previous, 1);
    for (let t = 1; t < 20; t++) {
      const w = stalenessWeight(t, { kind, a: 0.5, b: 2 });
      assert.ok(w <= previous && w > 0, `${kind} at ${t}`);
      previous = w;
    }
  }
});

Deno.test("stalenessWeight() refuses a negative or fractional staleness", () => {
  assert.throws(() => stalenessWeight(-1, { kind: "constant", a: 0, b: 0 }), /"-1"/);
  assert.throws(() => stalenessWeight(0.5, { kind: "constant", a: 0, b: 0 }), /"0.5"/);
});
