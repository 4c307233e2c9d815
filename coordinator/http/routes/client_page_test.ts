import assert from "node:assert/strict";
import { join } from "node:path";
import { startBackend } from "../../../client/training/backend.ts";
import type { Dataset } from "../../../shared/data/dataset.ts";
import { decodeDemoShard } from "../../../shared/data/demo_shard.ts";
import { buildModel } from "../../../shared/model/model.ts";
import { mnistMlpTask } from "../../../shared/tasks/mnist_mlp.ts";
import { spamTextTask } from "../../../shared/tasks/spam_text.ts";
import { clientPage } from "./client_page.ts";
import { createApp } from "../app.ts";
import { Federation } from "../../federation/federation.ts";
import { TaskRegistry } from "../../federation/registry.ts";

await startBackend("wasm");

/** 200 rows of digits: row i has label i % 10 and every pixel i / 200. */
const rows: Dataset = {
  x: Float32Array.from({ length: 200 * 784 }, (_, i) => Math.floor(i / 784) / 200),
  labels: Int32Array.from({ length: 200 }, (_, i) => i % 10),
  featureShape: [784],
  numClasses: 10,
};

async function registryWith(...tasks: ReturnType<typeof mnistMlpTask>[]): Promise<TaskRegistry> {
  const registry = new TaskRegistry();
  for (const task of tasks) {
    const federation = await Federation.create({
      task,
      model: await buildModel(task.model.topology),
    });
    registry.register(federation);
  }
  return registry;
}

Deno.test("the client page is served from its folder with types, caching and a CSP", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dir, "index.html"), "<!doctype html><p>page</p>");
  await Deno.writeTextFile(join(dir, "page.js"), "console.log(1)");
  await Deno.writeFile(join(dir, "tfjs-backend-wasm.wasm"), Uint8Array.of(0, 97, 115, 109));
  await Deno.writeTextFile(join(dir, "dashboard.html"), "<!doctype html><p>dashboard</p>");
  const registry = await registryWith();
  const app = createApp(registry, { clientPageDir: dir });
  try {
    const moved = await app.request("/client?enrol=enr_x");
    assert.equal(moved.status, 301);
    assert.equal(moved.headers.get("Location"), "/client/?enrol=enr_x");

    const page = await app.request("/client/");
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("Content-Type"), "text/html; charset=utf-8");
    assert.match(
      page.headers.get("Content-Security-Policy")!,
      /script-src 'self' 'wasm-unsafe-eval'/,
    );
    assert.equal(await page.text(), "<!doctype html><p>page</p>");

    const dashboard = await app.request("/");
    assert.equal(dashboard.status, 200);
    assert.equal(await dashboard.text(), "<!doctype html><p>dashboard</p>");
    assert.match(dashboard.headers.get("Content-Security-Policy")!, /connect-src 'self'/);

    const script = await app.request("/client/page.js");
    assert.equal(script.headers.get("Content-Type"), "text/javascript; charset=utf-8");
    const wasm = await app.request("/client/tfjs-backend-wasm.wasm");
    assert.equal(wasm.headers.get("Content-Type"), "application/wasm");
    assert.deepEqual([...new Uint8Array(await wasm.arrayBuffer())], [0, 97, 115, 109]);

    for (const path of ["/client/missing.js", "/client/..%2Fdeno.json", "/client/.env.js"]) {
      const response = await app.request(path);
      assert.equal(response.status, 404, path);
      assert.equal((await response.json()).error.code, "not_found");
    }
  } finally {
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a page that is not built answers 503 and says how to build it", async () => {
  const registry = await registryWith();
  try {
    const app = createApp(registry, { clientPageDir: "/nonexistent/dist" });
    for (const path of ["/client/", "/"]) {
      const response = await app.request(path);
      assert.equal(response.status, 503);
      const body = await response.json();
      assert.equal(body.error.code, "not_built");
      assert.match(body.error.message, /deno task build-web/);
    }
  } finally {
    await registry.close();
  }
});

Deno.test("demo shards are disjoint IID cuts of the rows, 10% labeled", async () => {
  const registry = await registryWith(mnistMlpTask());
  let loads = 0;
  const app = clientPage({ registry, demoRows: () => (loads++, Promise.resolve(rows)) });
  try {
    const seen = new Set<number>();
    let labeled = 0;
    for (let k = 1; k <= 4; k++) {
      const response = await app.request(`/demo-shard?shard=${k}/4`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("Content-Type"), "application/octet-stream");
      const shard = decodeDemoShard(new Uint8Array(await response.arrayBuffer()));
      assert.equal(shard.labels.length, 50);
      for (let r = 0; r < 50; r++) {
        // The row's pixels say which source row it is; its label, if kept, matches.
        const source = Math.round(shard.x[r * 784]! * 200);
        assert.ok(!seen.has(source), `row ${source} is in two shards`);
        seen.add(source);
        if (shard.labels[r]! >= 0) {
          labeled++;
          assert.equal(shard.labels[r], source % 10);
        }
      }
    }
    assert.equal(seen.size, 200);
    assert.equal(labeled, 20);
    assert.equal(loads, 1);
  } finally {
    await registry.close();
  }
});

Deno.test("demo shards refuse bad shard numbers and tasks they do not fit", async () => {
  const registry = await registryWith(mnistMlpTask(), spamTextTask({ maxLength: 64 }));
  const app = clientPage({ registry, demoRows: () => Promise.resolve(rows) });
  try {
    for (const shard of ["0/4", "5/4", "1/0", "1/101", "a/b", ""]) {
      const response = await app.request(`/demo-shard?shard=${shard}`);
      assert.equal(response.status, 400, shard);
      // The app's one error handler turns these into JSON (see above); here the message.
      assert.match(await response.text(), /shard must be K\/N/);
    }
    const text = await app.request("/demo-shard?shard=1/4&task=spam-text");
    assert.equal(text.status, 404);
    assert.match(await text.text(), /784 inputs and 10 classes/);
    const unknown = await app.request("/demo-shard?shard=1/4&task=nope");
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();
  } finally {
    await registry.close();
  }
});
