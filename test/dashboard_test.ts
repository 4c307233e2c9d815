// The dashboard in headless Chromium (Debian's chromium, playwright-core)
// against a real coordinator while two clients train: a plot with one point
// per round (the initial model's and each finished round's), a client table
// with every client and its backend, and a new round appearing without a
// reload. A screenshot is saved as artifacts/dashboard.png.
import assert from "node:assert/strict";
import { spawnClientWorker } from "../client/spawn_worker.ts";
import { startCoordinator } from "../coordinator/serve.ts";
import { selectRows } from "../shared/data/dataset.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import { partition } from "../shared/data/partition.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
import { launchChromium, progress, screenshot, waitFor } from "./_browser.ts";

const ADMIN = "adm_dashboard_test_0123456789abcdef";
const ENROLMENT = "enr_dashboard_test_0123456789abcdef";

Deno.test("the dashboard shows rounds, plots and clients live", async () => {
  const { train, holdout } = await loadMnistSplit({ seed: 4 });
  const task = mnistMlpTask({
    rounds: { total: 3, targetClients: 2, minClients: 2, timeoutSeconds: 600 },
    training: { localSteps: 5 },
  });
  const coordinator = await startCoordinator({
    tasks: [{ config: task, holdout }],
    auth: { adminToken: ADMIN, enrolmentToken: ENROLMENT },
  });
  const browser = await launchChromium({ webgpu: false });
  const parts = partition(train.labels, [...train.labels.keys()], {
    clients: 2,
    labeledFraction: 0.1,
    seed: 4,
  });
  // Slowed down (0.3 s a step), so the rounds last long enough to be watched.
  const clients = parts.map((part, i) =>
    spawnClientWorker({
      coordinator: coordinator.url,
      dataset: selectRows(train, part.rows, { hideLabels: part.unlabeledRows }),
      clientId: `client-${i + 1}`,
      enrolmentToken: ENROLMENT,
      seed: i,
      stepDelayMs: 300,
    })
  );
  try {
    const status = () => coordinator.federation.status();
    await waitFor(
      "round 1 to close",
      () => Promise.resolve(status().history.length >= 2 || undefined),
    );
    const page = await browser.newPage();
    await page.goto(`${coordinator.url}/#token=${ADMIN}`);
    // The token left the address bar once read.
    await waitFor(
      "the stream",
      async () => (await progress(page)).connection === "live" || undefined,
    );
    assert.equal(new URL(page.url()).hash, "");
    // A marker that a reload would lose.
    await page.evaluate(() => ((globalThis as Record<string, unknown>).marker = 42));

    const points = async () => Number(await page.getAttribute("#chart-accuracy", "data-points"));
    const seen = await waitFor("the first plot", async () => (await points()) || undefined);
    assert.ok(seen >= 2 && seen <= status().history.length);
    // Every client is listed with its backend.
    const rows = await page.$$eval(
      "#clients tbody tr",
      (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent ?? "")),
    );
    assert.deepEqual(rows.map((r) => r[0]).sort(), ["client-1", "client-2"]);
    for (const row of rows) {
      assert.equal(row[2], "wasm");
      assert.match(row[1]!, /^deno \d/);
    }

    // The run goes on: the new rounds arrive without a reload.
    await Promise.all([coordinator.federation.finished, ...clients.map((c) => c.done)]);
    await waitFor("the last round on the plot", async () => (await points()) === 4 || undefined);
    assert.equal(await page.evaluate(() => (globalThis as Record<string, unknown>).marker), 42);
    const view = await progress(page);
    assert.equal(view.phase, "finished");
    assert.equal(view.round, "3 of 3");
    for (const id of ["chart-loss", "chart-bytes", "chart-norms"]) {
      assert.equal(await page.getAttribute(`#${id}`, "data-points"), "4", id);
    }
    assert.match(view.accuracy!, /^\d+\.\d\d%$/);
    // A join link with its QR code, whose new enrolment token enrols a client.
    await page.click("#join-create");
    const link = await waitFor(
      "the join link",
      async () => (await progress(page))["join-link"] || undefined,
    );
    const prefix = `${coordinator.publicUrl}/client/?enrol=`;
    assert.ok(link.startsWith(prefix), link);
    assert.ok(
      await page.$eval(
        "#join-qr",
        (img) => (img as unknown as { naturalWidth: number }).naturalWidth > 0,
      ),
    );
    const enrolled = await fetch(`${coordinator.url}/v1/enrol`, {
      method: "POST",
      headers: { Authorization: `Bearer ${decodeURIComponent(link.slice(prefix.length))}` },
    });
    assert.equal(enrolled.status, 201);
    await enrolled.body?.cancel();
    const path = await screenshot(page, "dashboard.png");
    assert.ok((await Deno.stat(path)).size > 10_000);
  } finally {
    for (const c of clients) c.terminate();
    await browser.close();
    await coordinator.shutdown();
  }
});
