/**
 * Federated evaluation: the clients' measures of a global model on their own
 * labeled rows, combined.
 * @module
 */

/** One client's measure of a global model. */
export interface ClientEvaluation {
  accuracy: number;
  loss: number;
  /** Labeled rows it was measured on. */
  examples: number;
}

/**
 * The example-weighted means of accuracy and loss, with the total examples and
 * the number of clients; null when no client measured.
 *
 * @example
 * ```ts
 * import { aggregateEvaluations } from "./federated_evaluation.ts";
 * import assert from "node:assert/strict";
 * const m = aggregateEvaluations([{ accuracy: 1, loss: 0, examples: 1 }, { accuracy: 0.5, loss: 2, examples: 3 }]);
 * assert.deepEqual(m, { accuracy: 0.625, loss: 1.5, examples: 4, clients: 2 });
 * ```
 */
export function aggregateEvaluations(
  evaluations: readonly ClientEvaluation[],
): { accuracy: number; loss: number; examples: number; clients: number } | null {
  const measured = evaluations.filter((e) => e.examples > 0);
  const examples = measured.reduce((n, e) => n + e.examples, 0);
  if (examples === 0) return null;
  return {
    accuracy: measured.reduce((s, e) => s + e.accuracy * e.examples, 0) / examples,
    loss: measured.reduce((s, e) => s + e.loss * e.examples, 0) / examples,
    examples,
    clients: measured.length,
  };
}
