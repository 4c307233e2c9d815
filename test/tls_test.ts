// HTTPS end to end, as separate processes on loopback: `deno task dev-cert`'s
// certificates (checked by openssl against their CA), a cloud coordinator
// serving them (--tls-cert, --tls-key), and a Deno client CLI, a Node.js
// client and an edge that trust the CA with --ca-cert and train a round
// together. Without --ca-cert each stops at once with a message that names
// the host, the reason and the flag.
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort, spawnCoordinator, waitUntilUp } from "../coordinator/testing/spawn.ts";
import { writeDevCertificates } from "../coordinator/endpoint/dev_cert.ts";
import { type Status, StatusSchema } from "../shared/schemas/mod.ts";

const ADMIN = "adm_tls_test_0123456789abcdef";
const ENROLMENT = "enr_tls_test_0123456789abcdef";
const NODE_CLIENT = "client/node/dist/client.mjs";
const CERT_MESSAGE = /Cannot verify the TLS certificate of localhost:\d+: .+--ca-cert FILE/s;

const dir = await Deno.makeTempDir({ prefix: "tls-test-" });
const certs = await writeDevCertificates({
  dir: join(dir, "certs"),
  hosts: ["fl.test", "localhost", "127.0.0.1"],
});

async function run(command: string, args: string[], cwd?: string) {
  const output = await new Deno.Command(command, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, out: decode(output.stdout) + decode(output.stderr) };
}

function clientArgs(url: string, shard: string, ca: boolean): string[] {
  return [
    "--coordinator",
    url,
    "--enrolment-token",
    ENROLMENT,
    "--mnist-shard",
    shard,
    "--backend",
    "wasm",
    ...(ca ? ["--ca-cert", certs.caCert] : []),
  ];
}

const denoClient = (url: string, shard: string, ca: boolean) =>
  run(Deno.execPath(), ["run", "-A", "client/main.ts", ...clientArgs(url, shard, ca)]);
const nodeClient = (url: string, shard: string, ca: boolean) =>
  run("node", [NODE_CLIENT, ...clientArgs(url, shard, ca)]);

async function status(url: string): Promise<Status> {
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(certs.caCert)] });
  try {
    const response = await fetch(`${url}/v1/status`, {
      client,
      headers: { Authorization: `Bearer ${ADMIN}` },
    });
    return StatusSchema.parse(await response.json());
  } finally {
    client.close();
  }
}

Deno.test("dev-cert: openssl verifies the server certificate for each name against the CA", async (t) => {
  if ((await run("openssl", ["version"]).catch(() => null))?.code !== 0) {
    t.step({ name: "openssl is not installed", ignore: true, fn: () => {} });
    return;
  }
  for (const name of ["fl.test", "localhost"]) {
    const { code, out } = await run("openssl", [
      "verify",
      "-CAfile",
      certs.caCert,
      "-verify_hostname",
      name,
      "-purpose",
      "sslserver",
      certs.cert,
    ]);
    assert.equal(code, 0, out);
    assert.match(out, /: OK/);
  }
  const wrong = await run("openssl", [
    "verify",
    "-CAfile",
    certs.caCert,
    "-verify_hostname",
    "other.test",
    certs.cert,
  ]);
  assert.notEqual(wrong.code, 0, "a name not in the certificate fails");
  // A second run reuses the CA, so devices that trust it keep trusting.
  const other = join(dir, "certs-again");
  const first = await writeDevCertificates({ dir: other, hosts: ["a.test"] });
  const ca = await Deno.readTextFile(first.caCert);
  const again = await writeDevCertificates({ dir: other, hosts: ["b.test"] });
  assert.ok(!first.reusedCa && again.reusedCa);
  assert.equal(await Deno.readTextFile(again.caCert), ca);
  assert.equal((await Deno.stat(certs.caKey)).mode! & 0o077, 0, "the CA key is private");
});

Deno.test("over HTTPS: the Deno client, the Node.js client and an edge trust --ca-cert and train; without it each stops with the certificate message", async () => {
  const port = freePort();
  const url = `https://localhost:${port}`;
  const cloud = spawnCoordinator({
    taskFile: "mnist-mlp",
    runDir: join(dir, "cloud"),
    port,
    adminToken: ADMIN,
    enrolmentToken: ENROLMENT,
    linger: 60,
    stdout: "piped",
    args: [
      "--tls-cert",
      certs.cert,
      "--tls-key",
      certs.key,
      "--rounds",
      "1",
      "--target-clients",
      "3",
      "--min-clients",
      "3",
    ],
  });
  const edgePort = freePort();
  let edge: Deno.ChildProcess | null = null;
  try {
    // waitUntilUp's plain fetch does not trust the CA: wait on the process's own line.
    await waitForLine(cloud.stdout, /default task/);

    // Without the CA: each stops at once, naming the host, the reason and the flag.
    const refused = await Promise.all([
      denoClient(url, "1/4", false),
      nodeClient(url, "2/4", false),
      run(Deno.execPath(), [
        "run",
        "-A",
        "coordinator/main.ts",
        "--upstream",
        url,
        "--upstream-enrolment-token",
        ENROLMENT,
        "--run-dir",
        join(dir, "edge-refused"),
        "--port",
        String(freePort()),
      ]),
    ]);
    for (const [i, { code, out }] of refused.entries()) {
      assert.notEqual(code, 0, `client ${i} exited 0:\n${out}`);
      assert.match(out, CERT_MESSAGE, `client ${i}`);
    }
    assert.equal((await status(url)).clients.length, 0, "nothing reached the cloud");

    // With the CA: a Deno client, a Node.js client and an edge (with one client) train the round.
    edge = spawnCoordinator({
      runDir: join(dir, "edge"),
      port: edgePort,
      adminToken: ADMIN,
      enrolmentToken: ENROLMENT,
      linger: 60,
      args: [
        "--upstream",
        url,
        "--upstream-enrolment-token",
        ENROLMENT,
        "--edge-id",
        "edge-1",
        "--ca-cert",
        certs.caCert,
        "--target-clients",
        "1",
        "--min-clients",
        "1",
      ],
    });
    assert.ok(await waitUntilUp(`http://127.0.0.1:${edgePort}`, edge), "the edge starts");
    const trained = await Promise.all([
      denoClient(url, "1/4", true),
      nodeClient(url, "2/4", true),
      denoClient(`http://127.0.0.1:${edgePort}`, "3/4", false),
    ]);
    for (const [i, { code, out }] of trained.entries()) {
      assert.equal(code, 0, `client ${i}:\n${out}`);
      assert.match(out, /update accepted/, `client ${i}`);
    }
    const final = await status(url);
    assert.equal(final.phase, "finished");
    const round = final.history[1]!;
    assert.equal(round.updates.length, 3);
    const runtimes = final.clients.map((c) => c.runtime ?? "").sort();
    assert.ok(runtimes.some((r) => r.startsWith("node")), runtimes.join());
    assert.ok(final.clients.some((c) => c.id === "edge-1" && c.devices === 1));
  } finally {
    for (const child of [cloud, edge]) {
      if (!child) continue;
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
      await child.stderr.cancel().catch(() => {});
      if (child === cloud) await child.stdout.cancel().catch(() => {});
    }
  }
});

/** Reads a child's output until a line matches `pattern`, then keeps draining it. */
async function waitForLine(output: ReadableStream<Uint8Array>, pattern: RegExp): Promise<void> {
  const reader = output.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`the coordinator exited:\n${seen}`);
    seen += decoder.decode(value, { stream: true });
    if (pattern.test(seen)) {
      // Keep draining, so the child never blocks on a full pipe.
      (async () => {
        while (!(await reader.read()).done) { /* drain */ }
      })().catch(() => {});
      return;
    }
  }
  throw new Error(`no line matching ${pattern} in 60 s:\n${seen}`);
}

Deno.test("simulate --tls: the clients train against its coordinator over HTTPS, trusting its CA", async () => {
  const out = join(dir, "simulate");
  const { code, out: text } = await run(Deno.execPath(), [
    "run",
    "-A",
    "simulate/main.ts",
    "--quick",
    "--arms",
    "rdrop-ssl",
    "--rounds",
    "1",
    "--tls",
    "--out",
    out,
  ]);
  assert.equal(code, 0, text);
  const results = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
  assert.ok(JSON.stringify(results).includes("rdrop-ssl"));
  assert.match(await Deno.readTextFile(join(out, ".certs", "ca.pem")), /BEGIN CERTIFICATE/);
});
