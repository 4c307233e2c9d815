import assert from "node:assert/strict";
import { aggregateEvaluations } from "./federated_evaluation.ts";

Deno.test("aggregateEvaluations() weights by examples, as a direct sum does", () => {
  const evaluations = [
    { accuracy: 0.9, loss: 0.3, examples: 10 },
    { accuracy: 0.6, loss: 1.2, examples: 30 },
    { accuracy: 0.75, loss: 0.5, examples: 60 },
  ];
  const m = aggregateEvaluations(evaluations)!;
  assert.ok(Math.abs(m.accuracy - (9 + 18 + 45) / 100) < 1e-12);
  assert.ok(Math.abs(m.loss - (3 + 36 + 30) / 100) < 1e-12);
  assert.equal(m.examples, 100);
  assert.equal(m.clients, 3);
});

Deno.test("aggregateEvaluations() is null without a measure and skips empty ones", () => {
  assert.equal(aggregateEvaluations([]), null);
  assert.equal(aggregateEvaluations([{ accuracy: 1, loss: 0, examples: 0 }]), null);
  assert.equal(
    aggregateEvaluations([{ accuracy: 1, loss: 0, examples: 0 }, {
      accuracy: 0.5,
      loss: 1,
      examples: 2,
    }])!.clients,
    1,
  );
});
