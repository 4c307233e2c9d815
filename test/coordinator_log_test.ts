// The coordinator CLI with --log-format json: every line of its output is a
// JSON object with time, level and msg, and a round writes one line with its
// metrics.
import assert from "node:assert/strict";
import { spawnClientWorker } from "../client/spawn_worker.ts";
import { freePort, spawnCoordinator, waitUntilUp } from "../coordinator/testing/spawn.ts";
import { selectRows } from "../shared/data/dataset.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";

Deno.test("--log-format json writes JSON lines, one per round with its metrics", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "log-json-" });
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const enrolmentToken = "enr_log_test_0123456789abcdef";
  const coordinator = spawnCoordinator({
    taskFile: "mnist-mlp",
    runDir,
    port,
    adminToken: "adm_log_test_0123456789abcdef",
    enrolmentToken,
    linger: 0,
    args: ["--rounds", "1", "--target-clients", "1", "--log-format", "json"],
    stdout: "piped",
  });
  try {
    assert.ok(await waitUntilUp(url, coordinator));
    const { train } = await loadMnistSplit({ seed: 1 });
    await spawnClientWorker({
      coordinator: url,
      dataset: selectRows(train, [...Array(200).keys()]),
      clientId: "c1",
      enrolmentToken,
      seed: 1,
    }).done;
    const output = await coordinator.output();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
    const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
    const records = lines.map((line) => JSON.parse(line));
    for (const r of records) {
      assert.ok(!Number.isNaN(Date.parse(r.time)));
      assert.equal(r.level, "info");
      assert.equal(typeof r.msg, "string");
    }
    const rounds = records.filter((r) => r.event === "round");
    assert.deepEqual(rounds.map((r) => r.round), [0, 1]);
    const round1 = rounds[1];
    assert.equal(round1.task, "mnist-mlp");
    assert.equal(round1.clients, 1);
    assert.equal(round1.numLabeled, 200);
    assert.ok(round1.accuracy > 0 && round1.accuracy <= 1);
    assert.ok(round1.bytesReceived > 1_000_000);
    assert.equal(typeof round1.aggregationSeconds, "number");
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test("plain HTTP on every interface warns at start; --public-url names the join and dashboard links", async () => {
  const start = async (args: string[]) => {
    const runDir = await Deno.makeTempDir({ prefix: "log-start-" });
    const port = freePort();
    const child = spawnCoordinator({
      taskFile: "mnist-mlp",
      runDir,
      port,
      adminToken: "adm_log_test_0123456789abcdef",
      enrolmentToken: "enr_log_test_0123456789abcdef",
      linger: 0,
      args,
      stdout: "piped",
    });
    try {
      assert.ok(await waitUntilUp(`http://127.0.0.1:${port}`, child));
    } finally {
      child.kill("SIGINT");
    }
    const output = await child.output();
    await Deno.remove(runDir, { recursive: true });
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { port, stdout: decode(output.stdout), stderr: decode(output.stderr) };
  };
  // Listening on every interface (no traffic leaves the machine: the test only reads the log).
  const open = await start(["--host", "0.0.0.0"]);
  assert.match(
    open.stderr,
    /PLAIN HTTP on 0\.0\.0\.0: tokens and updates cross the network in clear text/,
  );
  assert.match(open.stderr, /--tls-cert FILE --tls-key FILE/);
  const loopback = await start(["--public-url", "https://fl.example.org:8443"]);
  assert.doesNotMatch(loopback.stderr, /PLAIN HTTP/);
  assert.match(
    loopback.stdout,
    /browser clients join at https:\/\/fl\.example\.org:8443\/client\/\?enrol=enr_log_test_0123456789abcdef/,
  );
  assert.match(loopback.stdout, /dashboard at https:\/\/fl\.example\.org:8443\//);
});
