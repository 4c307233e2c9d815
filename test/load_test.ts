// Load: 200 clients at once, each enrolled with its own token, post an update
// of a 1M-parameter model to a coordinator running as its own process (the
// CLI, authentication on, at most 32 uploads in flight). The only refusals are
// the configured limits (503 busy, 429), which clients retry after
// Retry-After; no update is lost: the round aggregates all 200. The
// coordinator's peak memory (VmHWM) and the figures are printed and written to
// runs/load-test.json.
import assert from "node:assert/strict";
import { runIngest } from "../coordinator/testing/ingest_scenario.ts";

const CLIENTS = 200;
const MAX_UPLOADS = 32;

Deno.test(`${CLIENTS} concurrent clients post 1M-parameter updates: none lost, only configured refusals`, async () => {
  const result = await runIngest({ clients: CLIENTS, maxUploads: MAX_UPLOADS });
  assert.deepEqual(result.unexpected, []);
  assert.equal(result.status?.phase, "finished", "the round did not close");
  const round = result.status!.history[1]!;
  assert.equal(round.clients, CLIENTS, "an accepted update was lost");
  assert.equal(new Set(round.updates.map((u) => u.clientId)).size, CLIENTS);
  assert.equal(result.responses[202], CLIENTS);
  assert.deepEqual(
    Object.keys(result.responses).filter((s) => !["202", "429", "503"].includes(s)),
    [],
  );
  const figures = {
    clients: CLIENTS,
    parameters: 1_001_000,
    updateBytes: result.updateBytes,
    maxUploads: MAX_UPLOADS,
    responses: result.responses,
    secondsToAcceptAll: Number(result.seconds.toFixed(1)),
    megabytesSent: Math.round(result.bytesSent / 1e6),
    coordinatorIdleMiB: result.idleMiB && Math.round(result.idleMiB),
    coordinatorPeakMiB: result.peakMiB && Math.round(result.peakMiB),
  };
  console.log(JSON.stringify(figures));
  await Deno.mkdir("runs", { recursive: true });
  await Deno.writeTextFile("runs/load-test.json", JSON.stringify(figures, null, 2) + "\n");
});
