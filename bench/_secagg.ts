/**
 * Secure aggregation at scale: one round of N clients (100,100-parameter
 * updates, synthetic deltas, no training) against a real coordinator over
 * loopback HTTP, secure and plain in the same run, for N = 10, 50, 100 and
 * at N = 100 the complete graph (full SecAgg) against SecAgg+'s degree. The
 * clients run in this process beside the coordinator, so a round's time is
 * everyone's work on this machine's cores; one client's own time to mask at
 * a degree is measured alone.
 * @module
 */
import { CoordinatorClient, encodeUpdateBody } from "../client/link/coordinator_client.ts";
import { secureSubmit } from "../client/link/secure_submit.ts";
import { type Coordinator, startCoordinator } from "../coordinator/serve.ts";
import { seededRandom } from "../shared/random.ts";
import {
  SecureAggregationSchema,
  type TaskConfig,
  TaskConfigSchema,
} from "../shared/schemas/mod.ts";
import { SecAggClient } from "../shared/secagg/client.ts";
import { secureParams } from "../shared/secagg/params.ts";
import { dense, sequential } from "../shared/tasks/layers.ts";
import type { Row } from "./_row.ts";
import { elementCount } from "../shared/shape.ts";

const INPUTS = 1000;
const UNITS = 100;

function task(clients: number, secure: { neighbours?: number } | null): TaskConfig {
  return TaskConfigSchema.parse({
    id: "secagg-bench",
    model: { topology: sequential("bench", [dense("dense1", UNITS, "linear", [INPUTS])]) },
    input: { shape: [INPUTS], labels: ["a", "b"] },
    rounds: { total: 1, targetClients: clients, minClients: clients, timeoutSeconds: 3600 },
    ...(secure ? { secureAggregation: SecureAggregationSchema.parse(secure) } : {}),
  });
}

/** A `fetch` that counts the bytes a client sends and receives (model downloads left out). */
function counting(totals: { sent: number; received: number }): typeof fetch {
  return async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const body = init?.body;
    const sent = typeof body === "string"
      ? new TextEncoder().encode(body).byteLength
      : body instanceof Uint8Array
      ? body.byteLength
      : 0;
    const response = await fetch(input, init);
    if (/\/v1\/model/.test(url)) return response;
    const bytes = new Uint8Array(await response.arrayBuffer());
    totals.sent += sent;
    totals.received += bytes.byteLength;
    return new Response(bytes, { status: response.status, headers: response.headers });
  };
}

interface RoundFigures {
  seconds: number;
  sentPerClient: number;
  receivedPerClient: number;
  unmaskSeconds: number | null;
  degree: number | null;
}

async function round(
  clients: number,
  secure: { neighbours?: number } | null,
): Promise<RoundFigures> {
  const config = task(clients, secure);
  const coordinator: Coordinator = await startCoordinator({
    tasks: [{ config }],
    auth: "insecure",
    limits: { requestsPerSecond: 100000, burst: 100000 },
  });
  const totals = { sent: 0, received: 0 };
  try {
    const api = new CoordinatorClient(coordinator.url, { fetch: counting(totals) });
    const served = await api.task();
    const sizes = coordinator.federation.trainable.map((w) => elementCount(w.shape));
    const ids = Array.from({ length: clients }, (_, i) => `c${String(i).padStart(3, "0")}`);
    const deltas = ids.map((_, i) => {
      const random = seededRandom(i);
      return sizes.map((n) => Float32Array.from({ length: n }, () => (random() - 0.5) * 0.01));
    });
    for (const id of ids) await api.model({ clientId: id });
    const started = performance.now();
    await Promise.all(ids.map(async (clientId, i) => {
      const counts = { numLabeled: 10, numUnlabeled: 0 };
      if (!served.secureAggregation) {
        const delta = new Map(
          coordinator.federation.trainable.map((w, k) => [w.name, {
            shape: w.shape,
            data: deltas[i]![k]!,
          }]),
        );
        await api.postUpdate(
          encodeUpdateBody(delta, { round: 1, baseVersion: 0, clientId, ...counts }),
        );
        return;
      }
      const result = await secureSubmit({
        api: api.secure,
        clientId,
        task: served,
        round: 1,
        input: { delta: deltas[i]!, weight: 10, ...counts },
        pollMs: 50,
      });
      if (result.kind !== "done") throw new Error(`secagg bench: ${clientId} ${result.kind}`);
    }));
    await coordinator.federation.finished;
    const seconds = (performance.now() - started) / 1000;
    const metrics = coordinator.federation.status().history[1]!;
    return {
      seconds,
      sentPerClient: totals.sent / clients,
      receivedPerClient: totals.received / clients,
      unmaskSeconds: metrics.secureAggregation?.unmaskSeconds ?? null,
      degree: served.secureAggregation
        ? secureParams(served.secureAggregation, served.rounds).degree
        : null,
    };
  } finally {
    await coordinator.shutdown();
  }
}

/** One client's time to share its keys and mask its input among `degree` neighbours. */
async function clientMaskSeconds(degree: number, values: number): Promise<number> {
  const params = { round: 1, threshold: Math.max(2, Math.floor((degree + 1) / 2) + 1), bits: 32 };
  const peers = await Promise.all(
    Array.from({ length: degree + 1 }, (_, i) => SecAggClient.create(`p${i}`, params)),
  );
  const [me, ...others] = peers;
  const keys = others.map((p) => p.publicKeys());
  const sealedToMe = (await Promise.all(
    others.map((p) => p.shareKeys(peers.filter((q) => q !== p).map((q) => q.publicKeys()))),
  )).flat().filter((s) => s.to === me!.id);
  const input = new Uint32Array(values);
  const started = performance.now();
  await me!.shareKeys(keys);
  await me!.maskInput(input, sealedToMe);
  return (performance.now() - started) / 1000;
}

/** The rows of `bench --only secagg`. */
export async function secaggRows(counts: readonly number[] = [10, 50, 100]): Promise<Row[]> {
  const rows: Row[] = [];
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const values = INPUTS * UNITS + UNITS;
  for (const n of counts) {
    const plain = await round(n, null);
    const secure = await round(n, {});
    rows.push({
      name: `secure round, ${n} clients x ${values} params, degree ${secure.degree}`,
      value: secure.seconds,
      unit: "s",
      note:
        `plain ${plain.seconds.toFixed(2)} s (x${(secure.seconds / plain.seconds).toFixed(2)}); ` +
        `per client sent ${kib(secure.sentPerClient)} / received ${
          kib(secure.receivedPerClient)
        } (plain ${kib(plain.sentPerClient)} / ${kib(plain.receivedPerClient)}); ` +
        `coordinator unmask ${secure.unmaskSeconds!.toFixed(2)} s`,
    });
  }
  const n = counts.at(-1)!;
  const full = await round(n, { neighbours: n - 1 });
  rows.push({
    name: `full SecAgg round, ${n} clients, degree ${full.degree}`,
    value: full.seconds,
    unit: "s",
    note: `per client sent ${kib(full.sentPerClient)} / received ${kib(full.receivedPerClient)}; ` +
      `coordinator unmask ${full.unmaskSeconds!.toFixed(2)} s`,
  });
  for (const degree of [9, 20, 49, 99]) {
    rows.push({
      name: `one client's keys + masking, degree ${degree}`,
      value: await clientMaskSeconds(degree, values + 3),
      unit: "s",
      note: `${values} params: one AES-CTR mask a neighbour, plus its own`,
    });
  }
  return rows;
}
