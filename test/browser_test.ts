// The browser client end to end, in real headless Chromium (Debian's
// chromium, driven by playwright-core) against a real coordinator: the page
// enrols, trains a demo shard of MNIST on WebGPU (Chromium's SwiftShader
// adapter here) in a Web Worker, and its updates are accepted and folded into
// the global model; without WebGPU it falls back and still contributes; and
// it trains beside two Deno clients. What is checked comes from the
// coordinator's status, not only from the page.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Page } from "playwright-core";
import { spawnClientWorker } from "../client/spawn_worker.ts";
import { freePort } from "../coordinator/testing/spawn.ts";
import { type Coordinator, startCoordinator } from "../coordinator/serve.ts";
import { selectRows } from "../shared/data/dataset.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import { partition } from "../shared/data/partition.ts";
import { withLora } from "../shared/lora/apply_lora.ts";
import { decodeSafetensors, type Float32Tensor } from "../shared/wire/safetensors.ts";
import {
  LoraConfigSchema,
  SecureAggregationSchema,
  type Status,
  StatusSchema,
  type TaskConfigInput,
} from "../shared/schemas/mod.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";
import { launchChromium, progress, screenshot, waitFor } from "./_browser.ts";

const ENROLMENT = "enr_browser_test_0123456789abcdef";
const { train, holdout } = await loadMnistSplit({ seed: 1 });

const ADMIN = "adm_browser_test_0123456789abcdef";
/** Local steps a round in these tasks. */
const LOCAL_STEPS = 5;

async function start(
  rounds: TaskConfigInput["rounds"],
  options: { runDir?: string; port?: number; secure?: boolean; lora?: boolean } = {},
): Promise<Coordinator> {
  const { secure, lora, ...rest } = options;
  const base = mnistMlpTask({ rounds, training: { localSteps: LOCAL_STEPS } });
  const task = {
    ...base,
    ...(secure ? { secureAggregation: SecureAggregationSchema.parse({}) } : {}),
    // Adapters on the hidden layers, the head trained in full.
    ...(lora
      ? {
        model: {
          ...base.model,
          topology: withLora(
            base.model.topology,
            LoraConfigSchema.parse({ rank: 4, targets: ["dense*"], modulesToSave: ["logits"] }),
            base.model.seed,
          ),
        },
      }
      : {}),
  };
  return await startCoordinator({
    tasks: [{ config: task, holdout }],
    auth: { enrolmentToken: ENROLMENT, adminToken: ADMIN },
    ...rest,
  });
}

async function status(coordinator: Coordinator): Promise<Status> {
  const response = await fetch(`${coordinator.url}/v1/status`, {
    headers: { Authorization: `Bearer ${ADMIN}` },
  });
  return StatusSchema.parse(await response.json());
}

async function globalTensors(coordinator: Coordinator): Promise<Map<string, Float32Tensor>> {
  const response = await fetch(`${coordinator.url}/v1/model`, {
    headers: { Authorization: `Bearer ${ADMIN}` },
  });
  return decodeSafetensors(new Uint8Array(await response.arrayBuffer())).tensors;
}

async function globalWeights(coordinator: Coordinator): Promise<Float32Array> {
  return (await globalTensors(coordinator)).get("dense1/kernel")!.data;
}

/** Opens the page with the join link, picks the demo shard and starts. */
async function joinWithDemoShard(page: Page, coordinator: Coordinator, shard: string) {
  await page.goto(`${coordinator.url}/client?enrol=${ENROLMENT}&shard=${shard}`);
  await page.click("#demo");
  await page.click("#start");
}

/** Waits for the coordinator's run to finish and returns its status. */
async function finished(coordinator: Coordinator): Promise<Status> {
  return await waitFor("the run to finish", async () => {
    const s = await status(coordinator);
    return s.phase === "finished" ? s : undefined;
  });
}

/**
 * Runs `fn` with a coordinator whose rounds need `clients` updates, a headless
 * Chromium (with or without WebGPU) and a page; tears them down afterwards.
 */
async function session(
  options: { rounds: number; clients: number; webgpu: boolean; secure?: boolean; lora?: boolean },
  fn: (coordinator: Coordinator, page: Page) => Promise<void>,
): Promise<void> {
  const coordinator = await start({
    total: options.rounds,
    targetClients: options.clients,
    minClients: options.clients,
    timeoutSeconds: 600,
  }, { secure: options.secure, lora: options.lora });
  const browser = await launchChromium({ webgpu: options.webgpu });
  try {
    await fn(coordinator, await browser.newPage());
  } finally {
    await browser.close();
    await coordinator.shutdown();
  }
}

Deno.test("a browser client trains on WebGPU; its updates fold into the global model; a reload rejoins as the same client", async () => {
  await session({ rounds: 2, clients: 1, webgpu: true }, async (coordinator, page) => {
    const initial = await globalWeights(coordinator);
    await joinWithDemoShard(page, coordinator, "1/20");
    // Round 1 closes with the browser's update.
    const afterRound1 = await waitFor("round 1 to close", async () => {
      const s = await status(coordinator);
      return s.history.length >= 2 ? s : undefined;
    });
    const view = await progress(page);
    assert.equal(view["backend-name"], "webgpu");
    assert.match(view.device!, /swiftshader/i);

    const [client] = afterRound1.clients;
    assert.equal(afterRound1.clients.length, 1);
    assert.equal(client!.backend, "webgpu");
    assert.match(client!.device ?? "", /swiftshader/i);
    assert.match(client!.runtime ?? "", /^chromium/);
    assert.ok(client!.updatesAccepted >= 1);
    const round1 = afterRound1.history[1]!;
    assert.deepEqual(round1.updates.map((u) => u.clientId), [client!.id]);
    assert.equal(round1.numLabeled + round1.numUnlabeled, 400);
    assert.equal(round1.version, 1);
    // The global moved by the browser's update.
    const moved = await globalWeights(coordinator);
    assert.ok(moved.some((v, i) => Math.abs(v - initial[i]!) > 1e-6));

    // Reload mid-run: the page keeps its token and rejoins as the same client.
    // (The page claims its saved identity under a Web Lock that the old page may still hold
    // for a moment, so the identity shows once the claim settles.)
    await page.reload();
    const identity = await waitFor("the reloaded page to claim its identity", async () => {
      const shown = (await progress(page)).identity!;
      return shown === "Not enrolled yet." ? undefined : shown;
    }, 10_000);
    assert.match(identity, new RegExp(`Enrolled as ${client!.id}`));
    await page.click("#demo");
    await page.click("#start");
    const end = await finished(coordinator);
    assert.equal(end.clients.length, 1);
    assert.equal(end.clients[0]!.updatesAccepted, 2);
    assert.deepEqual(end.history[2]!.updates.map((u) => u.clientId), [client!.id]);
    // Two rounds of 5 steps on 40 labeled digits beat the untrained model.
    assert.ok(end.history[2]!.accuracy! > end.history[0]!.accuracy! + 0.1);
    await waitFor("the page to show the end", async () => {
      const v = await progress(page);
      return v.connection === "the run has finished" && v.accepted === "1" ? v : undefined;
    });
  });
});

Deno.test("without WebGPU the page falls back to another backend and still contributes", async () => {
  await session({ rounds: 1, clients: 1, webgpu: false }, async (coordinator, page) => {
    await joinWithDemoShard(page, coordinator, "2/20");
    const done = await finished(coordinator);
    const [client] = done.clients;
    assert.ok(client!.backend === "webgl" || client!.backend === "wasm", `${client!.backend}`);
    assert.equal(client!.updatesAccepted, 1);
    assert.deepEqual(done.history[1]!.updates.map((u) => u.clientId), [client!.id]);
    const view = await progress(page);
    assert.equal(view["backend-name"], client!.backend);
    assert.match(view.log!, /backend webgpu not used/);
  });
});

Deno.test("on wasm the page trains with the fused SIMD kernels", async () => {
  await session({ rounds: 1, clients: 1, webgpu: false }, async (coordinator, page) => {
    await page.goto(`${coordinator.url}/client?enrol=${ENROLMENT}&shard=3/20&backend=wasm`);
    await page.click("#demo");
    await page.click("#start");
    const done = await finished(coordinator);
    const [client] = done.clients;
    assert.equal(client!.backend, "wasm");
    assert.equal(client!.device, "WebAssembly SIMD");
    assert.equal(client!.updatesAccepted, 1);
    // The kernels did the training, counted where they are called: one Adam update per weight
    // and step, one dropout mask per dropout layer and step.
    const steps = LOCAL_STEPS;
    const view = await waitFor("the page to show the kernels", async () => {
      const v = await progress(page);
      return v["fused-kernels"] !== "–" ? v : undefined;
    });
    const shown = view["fused-kernels"]!;
    const [, adam, dropout] = /^(\d+) Adam updates, (\d+) dropout masks/.exec(shown) ?? [];
    assert.ok(adam && dropout, shown);
    assert.ok(Number(adam) > 0 && Number(adam) % steps === 0, shown);
    assert.ok(Number(dropout) > 0 && Number(dropout) % steps === 0, shown);
  });
});

Deno.test("the page fine-tunes a LoRA task: only the adapters and the head move, and its update is accepted", async () => {
  await session({ rounds: 1, clients: 1, webgpu: true, lora: true }, async (coordinator, page) => {
    const before = await globalTensors(coordinator);
    await joinWithDemoShard(page, coordinator, "4/20");
    const done = await finished(coordinator);
    const [client] = done.clients;
    assert.equal(client!.backend, "webgpu");
    assert.equal(client!.updatesAccepted, 1);
    assert.deepEqual(done.history[1]!.updates.map((u) => u.clientId), [client!.id]);
    const after = await globalTensors(coordinator);
    const moved = [...before].filter(([name, w]) =>
      w.data.some((v, i) => v !== after.get(name)!.data[i])
    ).map(([name]) => name).sort();
    // FFA: only B of each adapter trains; the base kernels stay bit for bit.
    assert.deepEqual(moved, ["dense1/lora_B", "dense2/lora_B", "logits/bias", "logits/kernel"]);
    // The update carried those tensors only: far fewer bytes than the model.
    const modelBytes = [...before.values()].reduce((n, w) => n + 4 * w.data.length, 0);
    assert.ok(
      done.history[1]!.bytesReceived < modelBytes / 10,
      `${done.history[1]!.bytesReceived} bytes received, the model is ${modelBytes}`,
    );
  });
});

Deno.test("an invalid file is explained in words and nothing is sent", async () => {
  await session({ rounds: 1, clients: 1, webgpu: false }, async (coordinator, page) => {
    await page.goto(`${coordinator.url}/client?enrol=${ENROLMENT}&backend=cpu`);
    await page.setInputFiles("#files", {
      name: "rows.csv",
      mimeType: "text/csv",
      buffer: Buffer.from("label,x1\n3,0.5\n"),
    });
    await page.click("#start");
    const message = await waitFor("the error", async () => {
      const v = await progress(page);
      return v.error ? v.error : undefined;
    });
    assert.match(
      message,
      /Cannot read "rows\.csv": line 1: expected 785 columns \(label and 784 features\), got 2/,
    );
    assert.equal((await progress(page)).connection, "stopped by an error");
    const s = await status(coordinator);
    assert.equal(s.received, 0);
    assert.equal(s.history.length, 1);
  });
});

Deno.test("two tabs are two clients, and they ride out a coordinator restart", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "browser-restart-" });
  const port = freePort();
  const rounds = { total: 2, targetClients: 2, minClients: 2, timeoutSeconds: 600 };
  let coordinator = await start(rounds, { runDir, port });
  const browser = await launchChromium({ webgpu: true });
  try {
    // Two tabs of one browser share its storage, yet each is its own client.
    const context = await browser.newContext();
    const tabs = [await context.newPage(), await context.newPage()];
    await joinWithDemoShard(tabs[0]!, coordinator, "4/20");
    await joinWithDemoShard(tabs[1]!, coordinator, "5/20");
    const round1 = await waitFor("round 1 to close", async () => {
      const s = await status(coordinator);
      return s.history.length >= 2 ? s : undefined;
    });
    const ids = round1.clients.map((c) => c.id);
    assert.equal(new Set(ids).size, 2);
    assert.deepEqual(round1.history[1]!.updates.map((u) => u.clientId).sort(), [...ids].sort());

    // The coordinator goes away: the pages say so and keep trying.
    await coordinator.shutdown();
    await waitFor("a tab to show it is retrying", async () => {
      for (const tab of tabs) {
        const state = await tab.getAttribute("#connection", "data-state");
        if (state === "retrying") return true;
      }
      return undefined;
    });
    // It comes back on the same state: the tabs rejoin as the same clients
    // and round 2 closes with both.
    coordinator = await start(rounds, { runDir, port });
    const done = await finished(coordinator);
    assert.deepEqual(done.clients.map((c) => c.id).sort(), [...ids].sort());
    assert.deepEqual(done.history[2]!.updates.map((u) => u.clientId).sort(), [...ids].sort());
    assert.deepEqual(done.clients.map((c) => c.updatesAccepted), [2, 2]);
  } finally {
    await browser.close();
    await coordinator.shutdown();
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test("one browser client and two Deno clients complete two rounds together", async () => {
  await session({ rounds: 2, clients: 3, webgpu: true }, async (coordinator, page) => {
    await joinWithDemoShard(page, coordinator, "3/20");
    const parts = partition(train.labels, [...train.labels.keys()], {
      clients: 20,
      labeledFraction: 0.1,
      seed: 2,
    });
    const deno = [0, 1].map((i) =>
      spawnClientWorker({
        coordinator: coordinator.url,
        dataset: selectRows(train, parts[i]!.rows, { hideLabels: parts[i]!.unlabeledRows }),
        clientId: `deno-${i + 1}`,
        enrolmentToken: ENROLMENT,
        seed: i,
      })
    );
    await Promise.all([coordinator.federation.finished, ...deno.map((c) => c.done)]);
    const done = await status(coordinator);
    assert.equal(done.phase, "finished");
    const browserClient = done.clients.find((c) => c.backend === "webgpu");
    assert.ok(browserClient, JSON.stringify(done.clients));
    assert.deepEqual(
      done.clients.map((c) => [c.runtime?.split(" ")[0], c.backend, c.updatesAccepted]).sort(),
      [["chromium-headless", "webgpu", 2], ["deno", "wasm", 2], ["deno", "wasm", 2]],
    );
    for (const round of [1, 2]) {
      assert.deepEqual(
        done.history[round]!.updates.map((u) => u.clientId).sort(),
        [browserClient.id, "deno-1", "deno-2"].sort(),
      );
    }
    await waitFor("the page to show round 2 accepted", async () => {
      const v = await progress(page);
      return /round 2: accepted/.test(v["last-update"] ?? "") ? v : undefined;
    });
    const path = await screenshot(page, "browser-client.png");
    assert.ok((await Deno.stat(path)).size > 10_000);
  });
});

Deno.test("secure aggregation: one browser client and two Deno clients complete two secure rounds together", async () => {
  await session(
    { rounds: 2, clients: 3, webgpu: true, secure: true },
    async (coordinator, page) => {
      const initial = await globalWeights(coordinator);
      await joinWithDemoShard(page, coordinator, "4/20");
      const parts = partition(train.labels, [...train.labels.keys()], {
        clients: 20,
        labeledFraction: 0.1,
        seed: 4,
      });
      const deno = [0, 1].map((i) =>
        spawnClientWorker({
          coordinator: coordinator.url,
          dataset: selectRows(train, parts[i]!.rows, { hideLabels: parts[i]!.unlabeledRows }),
          clientId: `secure-deno-${i + 1}`,
          enrolmentToken: ENROLMENT,
          seed: i,
        })
      );
      await Promise.all([coordinator.federation.finished, ...deno.map((c) => c.done)]);
      const done = await status(coordinator);
      assert.equal(done.phase, "finished");
      const browserClient = done.clients.find((c) => c.backend === "webgpu");
      assert.ok(browserClient, JSON.stringify(done.clients));
      assert.deepEqual(
        done.clients.map((c) => [c.runtime?.split(" ")[0], c.backend, c.updatesAccepted]).sort(),
        [["chromium-headless", "webgpu", 2], ["deno", "wasm", 2], ["deno", "wasm", 2]],
      );
      for (const round of [1, 2]) {
        const h = done.history[round]!;
        assert.equal(h.keptBecause, null);
        assert.deepEqual(
          { ...h.secureAggregation!, unmaskSeconds: 0 },
          { advertised: 3, survivors: 3, dropped: 0, unmaskSeconds: 0 },
        );
        assert.deepEqual(
          h.updates.map((u) => u.clientId).sort(),
          [browserClient.id, "secure-deno-1", "secure-deno-2"].sort(),
        );
      }
      assert.notDeepEqual(await globalWeights(coordinator), initial);
      await waitFor("the page to show round 2 summed securely", async () => {
        const v = await progress(page);
        return /round 2: accepted, masked/.test(v["last-update"] ?? "") ? v : undefined;
      });
    },
  );
});
