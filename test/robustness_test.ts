// The byzantine experiment on real training: 8 clients (workers, real
// coordinator over HTTP, MNIST), 2 of which send their delta flipped and
// scaled by 10. FedAvg collapses; median, trimmed mean and multi-Krum stay
// within 3 points of the run without the attackers.
import assert from "node:assert/strict";
import { runRobustness } from "../simulate/robustness.ts";

Deno.test({
  name: "robust strategies hold against 2 of 8 clients sending -10 x their delta; FedAvg does not",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const rows = await runRobustness({
      base: { rounds: 4, localSteps: 10, workers: 2 },
      attackers: 2,
      scale: 10,
    });
    const accuracy = (name: string) => rows.find((r) => r.name.startsWith(name))!.accuracy;
    const honest = accuracy("fedavg, honest");
    assert.ok(honest > 0.75, `honest-only accuracy ${honest}`);
    const fedavg = accuracy("fedavg, 2 attackers");
    assert.ok(fedavg < honest - 0.3, `FedAvg under attack ${fedavg} vs honest ${honest}`);
    for (const strategy of ["median", "trimmed-mean", "krum"]) {
      const value = accuracy(`${strategy}, 2 attackers`);
      assert.ok(
        Math.abs(value - honest) <= 0.03,
        `${strategy} under attack ${value} vs honest ${honest}`,
      );
    }
  },
});
