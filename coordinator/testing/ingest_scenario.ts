/**
 * The ingest scenario that the load test and the benchmark share: N clients
 * at once, each enrolled with its own token, post one update of a
 * 1M-parameter model to the coordinator CLI (its own process) and retry the
 * limits' refusals after Retry-After. The same senders can post to a bare
 * server instead (`target: "bare"`, bench/_bare_server.ts), the reference the
 * benchmark divides by. Meanwhile a probe in a process of its own asks
 * GET /v1/health every 20 ms and times the answers.
 * @module
 */
import { join } from "node:path";
import { encodeSafetensors } from "../../shared/wire/safetensors.ts";
import { type Status, StatusSchema } from "../../shared/schemas/mod.ts";
import { dense, sequential } from "../../shared/tasks/layers.ts";
import { freePort, processMemory, spawnCoordinator, waitUntilUp } from "./spawn.ts";

const ADMIN = "admin-token-of-the-ingest-scenario";
const ENROL = "enrolment-token-of-the-ingest-scenario";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What one ingest run measured. */
export interface IngestResult {
  clients: number;
  maxUploads: number;
  /** Bytes of one update. */
  updateBytes: number;
  /** Count of answers by HTTP status, retries included. */
  responses: Record<number, number>;
  /** Answers other than 202, 429 and 503, as "status message". */
  unexpected: string[];
  /** Seconds from the first post until every client had its 202. */
  seconds: number;
  /** Clients that posted at a time. */
  concurrency: number;
  /** Each client's seconds from its first post to its 202, ascending. */
  latencies: number[];
  /** Bytes posted, retries included. */
  bytesSent: number;
  /** The coordinator's status once the round closed (none from the bare server). */
  status: Status | null;
  /** Coordinator memory when idle, and peak (MiB), where the platform tells. */
  idleMiB: number | null;
  peakMiB: number | null;
  /** GET /v1/health answer times (s) during the ingest, ascending. */
  health: number[];
}

/** Where the senders post: the coordinator CLI, or the bare reference server. */
export type IngestTarget = "coordinator" | "bare";

/**
 * Runs the scenario with `clients` clients and `maxUploads` uploads at once;
 * `concurrency` clients post at a time (all of them by default).
 */
export async function runIngest(
  options: { clients: number; maxUploads: number; concurrency?: number; target?: IngestTarget },
): Promise<IngestResult> {
  const { clients, maxUploads, concurrency = clients, target = "coordinator" } = options;
  const dir = await Deno.makeTempDir({ prefix: "ingest-" });
  // 1000 x 1000 kernel + 1000 bias = 1,001,000 parameters.
  const task = {
    id: "ingest",
    model: { topology: sequential("ingest", [dense("wide", 1000, "linear", [1000])]) },
    input: { shape: [1000], labels: Array.from({ length: 1000 }, (_, i) => `c${i}`) },
    rounds: { total: 1, targetClients: clients, minClients: clients, timeoutSeconds: 3600 },
  };
  await Deno.writeTextFile(join(dir, "task.json"), JSON.stringify(task));
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = target === "bare" ? spawnBare(port) : spawnCoordinator({
    taskFile: join(dir, "task.json"),
    runDir: join(dir, "run"),
    port,
    adminToken: ADMIN,
    enrolmentToken: ENROL,
    linger: 30,
    args: [
      "--max-uploads",
      String(maxUploads),
      // Every simulated client comes from 127.0.0.1 (one address, as behind one
      // NAT) with an upload and pooled connections: only the total bound applies.
      "--max-connections-per-address",
      "4096",
    ],
  });
  const stderr = new Response(child.stderr).text();
  try {
    if (!(await waitUntilUp(url, child))) {
      throw new Error(`the coordinator stopped: ${await stderr}`);
    }
    const idle = await processMemory(child.pid);
    const kernel = new Float32Array(1000 * 1000).fill(1e-4);
    const bias = new Float32Array(1000).fill(1e-4);
    const responses: Record<number, number> = {};
    const unexpected: string[] = [];
    const latencies: number[] = [];
    let bytesSent = 0;
    let updateBytes = 0;
    const probe = startProbe(`${url}/v1/health`);
    const started = performance.now();
    const post = async (i: number) => {
      const clientId = `n${i}`;
      const enrol = await fetch(`${url}/v1/enrol`, {
        method: "POST",
        headers: { Authorization: `Bearer ${ENROL}`, "Content-Type": "application/json" },
        body: JSON.stringify({ clientId }),
      });
      const { token } = await enrol.json();
      const body = encodeSafetensors({
        "wide/kernel": { shape: [1000, 1000], data: kernel },
        "wide/bias": { shape: [1000], data: bias },
      }, { round: "1", baseVersion: "0", numLabeled: "10", numUnlabeled: "10", clientId });
      updateBytes = body.length;
      const begin = performance.now();
      for (let attempt = 0; attempt < 500; attempt++) {
        let res: Response;
        try {
          res = await fetch(`${url}/v1/updates`, {
            method: "POST",
            headers: {
              Authorization: `Bearer ${token}`,
              "Content-Type": "application/octet-stream",
            },
            body: body as Uint8Array<ArrayBuffer>,
          });
        } catch (error) {
          // A refusal sent while the body was still going out can close the
          // connection under it (node:http): retried, as the clients do.
          if (!(error instanceof TypeError)) throw error;
          await sleep(1000 * (0.5 + Math.random()));
          continue;
        }
        bytesSent += body.length;
        responses[res.status] = (responses[res.status] ?? 0) + 1;
        const answer = await res.text();
        if (res.status === 202) {
          latencies.push((performance.now() - begin) / 1000);
          return;
        }
        const wait = Number(res.headers.get("Retry-After"));
        if ((res.status !== 503 && res.status !== 429) || !(wait >= 1)) {
          unexpected.push(`${res.status} ${answer.slice(0, 200)}`);
          return;
        }
        await sleep(wait * 1000 * (0.5 + Math.random()));
      }
      unexpected.push(`${clientId} was refused 500 times`);
    };
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(concurrency, clients) }, async () => {
      while (next < clients) await post(next++);
    }));
    const seconds = (performance.now() - started) / 1000;
    const health = await probe.stop();
    let status: Status | null = null;
    for (let i = 0; target === "coordinator"; i++) {
      status = StatusSchema.parse(
        await (await fetch(`${url}/v1/status`, { headers: { Authorization: `Bearer ${ADMIN}` } }))
          .json(),
      );
      if (status.phase === "finished" || i >= 600 || unexpected.length > 0) break;
      await sleep(100);
    }
    const peak = await processMemory(child.pid);
    latencies.sort((a, b) => a - b);
    return {
      clients,
      maxUploads,
      concurrency: Math.min(concurrency, clients),
      updateBytes,
      responses,
      unexpected,
      seconds,
      latencies,
      bytesSent,
      status,
      idleMiB: idle?.rssMiB ?? null,
      peakMiB: peak?.peakMiB ?? null,
      health,
    };
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
    await child.status;
    if (Deno.env.get("INGEST_STDERR")) console.error(await stderr);
    else await stderr;
    await Deno.remove(dir, { recursive: true });
  }
}

/** The bare reference server (bench/_bare_server.ts) on `port`. */
function spawnBare(port: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "bench/_bare_server.ts", String(port)],
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/**
 * A process of its own that GETs `url` every 20 ms until stopped, and then
 * reports each answer's time (s), ascending.
 */
function startProbe(url: string): { stop: () => Promise<number[]> } {
  const code = `
    const times = [];
    let running = true;
    const stop = new Promise((resolve) => Deno.addSignalListener("SIGTERM", () => resolve(running = false)));
    while (running) {
      const start = performance.now();
      try { await (await fetch(${
    JSON.stringify(url)
  })).arrayBuffer(); times.push((performance.now() - start) / 1000); } catch {}
      await Promise.race([new Promise((r) => setTimeout(r, 20)), stop]);
    }
    console.log(JSON.stringify(times));
    Deno.exit(0);`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const output = child.output();
  return {
    stop: async () => {
      child.kill("SIGTERM");
      const { stdout } = await output;
      const times = JSON.parse(new TextDecoder().decode(stdout) || "[]") as number[];
      return times.sort((a, b) => a - b);
    },
  };
}
