// The browser client the way another device reaches it: by a host name that
// is not localhost. Headless Chromium maps the name fl.test to 127.0.0.1
// (--host-resolver-rules) and trusts the test's development certificate by
// its public key (--ignore-certificate-errors-spki-list, which accepts only
// that key; every other certificate is still checked). Over HTTPS the page
// picks WebGPU, trains and its update is accepted (read from the
// coordinator's status); over plain HTTP the same page says it needs a
// secure page, raises no error and sends nothing.
import "reflect-metadata";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as x509 from "@peculiar/x509";
import type { Browser } from "playwright-core";
import { freePort } from "../coordinator/testing/spawn.ts";
import { createDevCertificates } from "../coordinator/endpoint/dev_cert.ts";
import { type Coordinator, startCoordinator } from "../coordinator/serve.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import { SecureAggregationSchema, type Status, StatusSchema } from "../shared/schemas/mod.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
import { brownTask } from "../shared/tasks/brown.ts";
import { loadBrown } from "../shared/data/brown.ts";
import { selectRows } from "../shared/data/dataset.ts";
import { resolveTaskFile } from "../coordinator/cli/load_task.ts";
import { launchChromium, progress, screenshot, waitFor } from "./_browser.ts";

const NAME = "fl.test";
const ADMIN = "adm_browser_tls_0123456789abcdef";
const ENROLMENT = "enr_browser_tls_0123456789abcdef";
const { holdout } = await loadMnistSplit({ seed: 1 });
const { ca, server } = await createDevCertificates({ hosts: [NAME, "localhost"] });

/** base64(SHA-256(SubjectPublicKeyInfo)) of the server certificate, as Chromium's flag wants it. */
async function spkiHash(pem: string): Promise<string> {
  const spki = new x509.X509Certificate(pem).publicKey.rawData;
  return Buffer.from(await crypto.subtle.digest("SHA-256", spki)).toString("base64");
}

async function start(tls: boolean, secure = false): Promise<Coordinator> {
  const port = freePort();
  const clients = secure ? 2 : 1;
  return await startCoordinator({
    tasks: [{
      config: {
        ...mnistMlpTask({
          rounds: { total: 1, targetClients: clients, minClients: clients, timeoutSeconds: 600 },
          training: { localSteps: 5 },
        }),
        ...(secure ? { secureAggregation: SecureAggregationSchema.parse({}) } : {}),
      },
      holdout,
    }],
    auth: { enrolmentToken: ENROLMENT, adminToken: ADMIN },
    port,
    tls: tls ? server : undefined,
    publicUrl: `${tls ? "https" : "http"}://${NAME}:${port}`,
  });
}

/** The coordinator's status, read by this process over loopback (trusting the CA). */
async function status(coordinator: Coordinator): Promise<Status> {
  const client = Deno.createHttpClient({ caCerts: [ca.cert] });
  try {
    const base = coordinator.url.replace("127.0.0.1", "localhost");
    const response = await fetch(`${base}/v1/status`, {
      client,
      headers: { Authorization: `Bearer ${ADMIN}` },
    });
    return StatusSchema.parse(await response.json());
  } finally {
    client.close();
  }
}

async function browser(): Promise<Browser> {
  return await launchChromium({
    webgpu: true,
    args: [
      `--host-resolver-rules=MAP ${NAME} 127.0.0.1`,
      `--ignore-certificate-errors-spki-list=${await spkiHash(server.cert)}`,
    ],
  });
}

Deno.test("over HTTPS by host name, the page trains on WebGPU and its update is accepted", async () => {
  const coordinator = await start(true);
  const chromium = await browser();
  try {
    const page = await chromium.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${coordinator.publicUrl}/client/?enrol=${ENROLMENT}&shard=2/20`);
    assert.equal(
      await page.evaluate(() => (globalThis as { isSecureContext?: boolean }).isSecureContext),
      true,
    );
    await page.click("#demo");
    await page.click("#start");
    const done = await waitFor("the round to close", async () => {
      const s = await status(coordinator);
      return s.phase === "finished" ? s : undefined;
    });
    const [client] = done.clients;
    assert.equal(done.clients.length, 1);
    assert.equal(client!.backend, "webgpu");
    assert.ok(client!.updatesAccepted >= 1);
    assert.equal(done.history[1]!.updates.length, 1);
    assert.equal((await progress(page))["backend-name"], "webgpu");
    assert.deepEqual(errors, []);
    await screenshot(page, "browser-client-https.png");
  } finally {
    await chromium.close();
    await coordinator.shutdown();
  }
});

Deno.test("over HTTPS by host name, the page trains brown-pos (a transformer tagger) on WebGPU from a picked JSONL file", async () => {
  // The built-in task, its transformer made tiny and its holdout cut to 100 sentences for speed.
  const brown = await brownTask("brown-pos", {
    transformer: { layers: 1, dModel: 32, heads: 2, ffn: 64 },
    training: { localSteps: 3, labeledBatchSize: 8, unlabeledBatchSize: 8 },
    rounds: { total: 1, targetClients: 1, minClients: 1, timeoutSeconds: 600 },
  });
  const port = freePort();
  const coordinator = await startCoordinator({
    tasks: [{ config: brown.config, holdout: selectRows(brown.holdout, [...Array(100).keys()]) }],
    auth: { enrolmentToken: ENROLMENT, adminToken: ADMIN },
    port,
    tls: server,
    publicUrl: `https://${NAME}:${port}`,
  });
  // What a person picks: tagged sentences of a training document, every third without its tags.
  const document = (await loadBrown()).find((d) => d.genre === "news")!;
  const lines = document.sentences.filter((s) => s.words.length <= 32).slice(0, 60).map((
    sentence,
    i,
  ) =>
    JSON.stringify(
      i % 3 === 2 ? { tokens: sentence.words } : { tokens: sentence.words, tags: sentence.tags },
    )
  );
  const chromium = await browser();
  try {
    const page = await chromium.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${coordinator.publicUrl}/client/?enrol=${ENROLMENT}`);
    await page.setInputFiles("#files", {
      name: "sentences.jsonl",
      mimeType: "application/x-ndjson",
      buffer: Buffer.from(lines.join("\n") + "\n"),
    });
    await page.click("#start");
    const done = await waitFor("the round to close", async () => {
      const s = await status(coordinator);
      return s.phase === "finished" ? s : undefined;
    });
    const [client] = done.clients;
    assert.equal(client!.backend, "webgpu");
    assert.equal(client!.updatesAccepted, 1);
    assert.equal(client!.numLabeled, 40);
    assert.equal(client!.numUnlabeled, 20);
    assert.equal(done.history[1]!.updates.length, 1);
    assert.ok(done.history[1]!.perplexity! > 1);
    assert.deepEqual(errors, []);
    await screenshot(page, "browser-client-brown-pos.png");
  } finally {
    await chromium.close();
    await coordinator.shutdown();
  }
});

Deno.test("over HTTPS by host name, the page contributes a pretraining update (masked tokens) from text pasted into it", async () => {
  const pretraining = await resolveTaskFile({
    id: "pretraining",
    model: { transformer: { layers: 1, dModel: 32, heads: 2, ffn: 64 } },
    input: {
      sequence: {
        kind: "masked-language-model",
        maxLength: 24,
        vocabulary: { from: "./train.jsonl", minCount: 1 },
      },
    },
    training: { localSteps: 3, labeledBatchSize: 8, unlabeledBatchSize: 0 },
    rounds: { total: 1, targetClients: 1, minClients: 1, timeoutSeconds: 600 },
    holdout: "./holdout.jsonl",
  }, { baseDir: "examples/tagging" });
  const port = freePort();
  const coordinator = await startCoordinator({
    tasks: [pretraining],
    auth: { enrolmentToken: ENROLMENT, adminToken: ADMIN },
    port,
    tls: server,
    publicUrl: `https://${NAME}:${port}`,
  });
  // Plain text a person pastes: no labels at all, a line a text.
  const text = [
    "The jury said the city was fine .",
    "The election produced no evidence that any irregularities took place .",
    "",
    "The grand jury commented on a number of other topics .",
  ].join("\n");
  const chromium = await browser();
  try {
    const page = await chromium.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${coordinator.publicUrl}/client/?enrol=${ENROLMENT}`);
    await page.fill("#pasted-text", text);
    assert.match(await page.textContent("#data-summary") ?? "", /3 line\(s\) of text/);
    await page.click("#start");
    const done = await waitFor("the round to close", async () => {
      const s = await status(coordinator);
      return s.phase === "finished" ? s : undefined;
    });
    const [client] = done.clients;
    assert.equal(client!.backend, "webgpu");
    assert.equal(client!.updatesAccepted, 1);
    assert.equal(client!.numLabeled, 0);
    assert.equal(client!.numUnlabeled, 3);
    assert.ok(done.history[1]!.perplexity! > 1);
    assert.deepEqual(errors, []);
  } finally {
    await chromium.close();
    await coordinator.shutdown();
  }
});

Deno.test("over plain HTTP by host name, the page says it needs HTTPS, raises no error and sends nothing", async () => {
  const coordinator = await start(false);
  const chromium = await browser();
  try {
    const page = await chromium.newPage();
    const errors: string[] = [];
    const api: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("request", (request) => {
      if (new URL(request.url()).pathname.startsWith("/v1/")) api.push(request.url());
    });
    await page.goto(`${coordinator.publicUrl}/client/?enrol=${ENROLMENT}&shard=2/20`);
    assert.equal(
      await page.evaluate(() => (globalThis as { isSecureContext?: boolean }).isSecureContext),
      false,
    );
    const view = await waitFor("the message", async () => {
      const v = await progress(page);
      return v.error ? v : undefined;
    }, 10_000);
    assert.match(view.error!, /must be opened over HTTPS, or on localhost/);
    assert.match(view.error!, new RegExp(`https://${NAME.replace(".", "\\.")}:\\d+/client/`));
    assert.doesNotMatch(view.error!, /unreachable/);
    assert.equal(await page.isDisabled("#start"), true);
    // Nothing to click: the controls are off. Wait a moment for anything late.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.deepEqual(errors, []);
    assert.deepEqual(api, []);
    const s = await status(coordinator);
    assert.equal(s.clients.length, 0);
    await screenshot(page, "browser-client-plain-http.png");
  } finally {
    await chromium.close();
    await coordinator.shutdown();
  }
});

Deno.test("over HTTPS by host name, two pages complete a secure-aggregation round (WebCrypto X25519 in a secure context)", async () => {
  const coordinator = await start(true, true);
  const chromium = await browser();
  try {
    const errors: string[] = [];
    for (const shard of ["5/20", "6/20"]) {
      const page = await chromium.newPage();
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`${coordinator.publicUrl}/client/?enrol=${ENROLMENT}&shard=${shard}`);
      await page.click("#demo");
      await page.click("#start");
    }
    const done = await waitFor("the secure round to close", async () => {
      const s = await status(coordinator);
      return s.phase === "finished" ? s : undefined;
    });
    assert.equal(done.history[1]!.keptBecause, null);
    assert.equal(done.history[1]!.secureAggregation?.survivors, 2);
    assert.deepEqual(done.clients.map((c) => c.updatesAccepted), [1, 1]);
    assert.deepEqual(errors, []);
  } finally {
    await chromium.close();
    await coordinator.shutdown();
  }
});
