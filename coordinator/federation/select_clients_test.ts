import assert from "node:assert/strict";
import { isSelected } from "./select_clients.ts";

const ids = Array.from({ length: 2000 }, (_, i) => `client-${i + 1}`);
const chosen = (round: number, fraction: number, taskId = "t") =>
  new Set(ids.filter((clientId) => isSelected({ taskId, clientId, round, fraction })));

Deno.test("isSelected() picks about the fraction asked, every round", () => {
  for (const fraction of [0.1, 0.5, 0.9]) {
    for (const round of [1, 2, 50]) {
      const share = chosen(round, fraction).size / ids.length;
      // 2000 draws: the binomial standard deviation is at most 1.1 points.
      assert.ok(Math.abs(share - fraction) < 0.05, `fraction ${fraction} round ${round}: ${share}`);
    }
  }
});

Deno.test("isSelected() draws a different set each round and per task, the same on a repeat", () => {
  const one = chosen(1, 0.5);
  const two = chosen(2, 0.5);
  const overlap = [...one].filter((id) => two.has(id)).length / one.size;
  assert.ok(overlap > 0.4 && overlap < 0.6, `overlap ${overlap}`);
  assert.notDeepEqual(chosen(1, 0.5, "other"), one);
  assert.deepEqual(chosen(1, 0.5), one);
});

Deno.test("isSelected() with fraction 1 selects everyone", () => {
  assert.equal(chosen(7, 1).size, ids.length);
});
