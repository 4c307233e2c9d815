// The two CLIs with authentication on: the coordinator (own process) and a
// client that enrols with an enrolment token, keeps its token in a file, trains
// both rounds, and on a second start rejoins from the file as the same client.
import assert from "node:assert/strict";
import { join } from "node:path";
import { dense, sequential } from "../shared/tasks/layers.ts";
import { seededRandom } from "../shared/random.ts";
import { freePort, spawnCoordinator, waitUntilUp } from "../coordinator/testing/spawn.ts";

const ENROL = "enrolment-token-for-the-cli-test";
const ADMIN = "admin-token-for-the-cli-test";

Deno.test("a client CLI enrols, trains with its own token and rejoins from its token file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cli-auth-" });
  const task = {
    id: "tiny",
    model: {
      topology: sequential("tiny", [dense("dense1", 8, "relu", [4]), dense("logits", 3, "linear")]),
    },
    input: { shape: [4], labels: ["a", "b", "c"] },
    training: { localSteps: 3, labeledBatchSize: 4, unlabeledBatchSize: 4 },
    rounds: { total: 2, targetClients: 1, minClients: 1, timeoutSeconds: 600 },
  };
  await Deno.writeTextFile(join(dir, "task.json"), JSON.stringify(task));
  const random = seededRandom(3);
  const rows = Array.from({ length: 40 }, (_, i) =>
    JSON.stringify({
      x: [random(), random(), random(), random()],
      label: i % 2 === 0 ? ["a", "b", "c"][i % 3] : null,
    }));
  await Deno.writeTextFile(join(dir, "rows.jsonl"), rows.join("\n") + "\n");
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const coordinator = spawnCoordinator({
    taskFile: join(dir, "task.json"),
    runDir: join(dir, "run"),
    port,
    adminToken: ADMIN,
    enrolmentToken: ENROL,
    linger: 3,
    stdout: "piped",
  });
  const coordinatorOut = new Response(coordinator.stdout).text();
  const coordinatorErr = new Response(coordinator.stderr).text();
  const tokenFile = join(dir, "client.json");
  const client = (extra: string[] = []) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "client/main.ts",
        "--coordinator",
        url,
        "--data",
        join(dir, "rows.jsonl"),
        "--token-file",
        tokenFile,
        ...extra,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  try {
    assert.ok(await waitUntilUp(url, coordinator), "the coordinator did not start");
    // Without a token the client is refused, in words.
    const refused = await client();
    assert.notEqual(refused.code, 0);
    assert.match(new TextDecoder().decode(refused.stderr), /Missing bearer token/);

    const first = await client(["--enrolment-token", ENROL, "--id", "phone-7"]);
    const out = new TextDecoder().decode(first.stdout) + new TextDecoder().decode(first.stderr);
    assert.equal(first.code, 0, out);
    assert.match(out, /enrolled as "phone-7"/);
    const saved = JSON.parse(await Deno.readTextFile(tokenFile));
    assert.equal(saved.clientId, "phone-7");
    assert.match(saved.token, /^cli_/);
    assert.equal((await Deno.stat(tokenFile)).mode! & 0o777, 0o600);

    const status = await (await fetch(`${url}/v1/status`, {
      headers: { Authorization: `Bearer ${ADMIN}` },
    })).json();
    assert.equal(status.phase, "finished");
    assert.deepEqual(
      status.clients.map((c: { id: string; updatesAccepted: number }) => [c.id, c.updatesAccepted]),
      [["phone-7", 2]],
    );
    // A second start reads the token file: the same client, no new enrolment.
    const second = await client();
    assert.equal(second.code, 0, new TextDecoder().decode(second.stderr));
    assert.doesNotMatch(new TextDecoder().decode(second.stdout), /enrolled/);
    const clients = await (await fetch(`${url}/v1/clients`, {
      headers: { Authorization: `Bearer ${ADMIN}` },
    })).json();
    assert.deepEqual(clients.clients.map((c: { clientId: string }) => c.clientId), ["phone-7"]);
  } finally {
    try {
      coordinator.kill("SIGKILL");
    } catch {
      // exited
    }
    await coordinator.status;
    await coordinatorOut;
    await coordinatorErr;
    await Deno.remove(dir, { recursive: true });
  }
});
