// Table-driven: malformed requests to the update endpoint (and its
// neighbours), each answered with its status, a clear message, and no change
// to the global model or the coordinator's state.
import assert from "node:assert/strict";
import { serveTask } from "../testing/test_app.ts";
import { createHash } from "node:crypto";
import { encodeSafetensors, type Float32Tensor } from "../../shared/wire/safetensors.ts";
import { ErrorResponseSchema } from "../../shared/schemas/mod.ts";
import { mnistMlpTask } from "../../shared/tasks/mnist_mlp.ts";
import { elementCount } from "../../shared/shape.ts";

const task = {
  ...mnistMlpTask({ rounds: { total: 2, targetClients: 3, minClients: 1, timeoutSeconds: 600 } }),
  updates: { maxNorm: 1000, overNorm: "reject" as const, maxExamples: 100_000 },
};
const { federation, auth, app } = await serveTask(task);
const alice = auth.issue("alice").token;
const OCTET = "application/octet-stream";

const META: Record<string, string> = {
  round: "1",
  baseVersion: "0",
  numLabeled: "3",
  numUnlabeled: "4",
};

function tensors(fill = 0.001): Map<string, Float32Tensor> {
  return new Map(
    federation.trainable.map(({ name, shape }) => [name, {
      shape,
      data: new Float32Array(elementCount(shape)).fill(fill),
    }]),
  );
}

const valid = () => encodeSafetensors(tensors(), META);
const withMeta = (meta: Record<string, string>) =>
  encodeSafetensors(tensors(), { ...META, ...meta });
const withTensor = (name: string, data: number[] | Float32Array, shape?: number[]) => {
  const t = tensors();
  const spec = federation.trainable.find((w) => w.name === name)!;
  if (shape) {
    t.set(name, { shape, data: Float32Array.from(data) });
  } else {
    t.get(name)!.data.set(data);
    t.set(name, { shape: spec.shape, data: t.get(name)!.data });
  }
  return encodeSafetensors(t, META);
};

/** Raw bytes: 8-byte length (or `length`), header text, data. */
function raw(header: string, data: Uint8Array = new Uint8Array(0), length?: bigint): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** A valid update with its header JSON rewritten by `edit`. */
function editHeader(edit: (header: Record<string, unknown>) => void): Uint8Array {
  const bytes = valid();
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  edit(header);
  return raw(JSON.stringify(header), bytes.subarray(8 + n));
}

interface Case {
  name: string;
  body?: () => Uint8Array | string;
  type?: string | null;
  path?: string;
  headers?: Record<string, string>;
  status: number;
  message: RegExp;
}

const CASES: Case[] = [
  { name: "empty body", body: () => new Uint8Array(0), status: 400, message: /shorter than 8/ },
  {
    name: "truncated length prefix",
    body: () => new Uint8Array(5),
    status: 400,
    message: /shorter than 8/,
  },
  {
    name: "truncated safetensors",
    body: () => valid().subarray(0, 5000),
    status: 400,
    message: /past the end|past the/,
  },
  {
    name: "header length past the end",
    body: () => raw("{}", new Uint8Array(0), 1000n),
    status: 400,
    message: /extends past the end/,
  },
  {
    name: "header length 2^40",
    body: () => raw("{}", new Uint8Array(0), 2n ** 40n),
    status: 400,
    message: /exceeds the maximum/,
  },
  {
    name: "header length 0",
    body: () => raw("", new Uint8Array(0), 0n),
    status: 400,
    message: /header length is 0/,
  },
  { name: "non-JSON header", body: () => raw("{not json"), status: 400, message: /not valid JSON/ },
  {
    name: "JSON array header",
    body: () => raw("[1, 2]"),
    status: 400,
    message: /not a JSON object/,
  },
  {
    name: "header not UTF-8",
    body: () => {
      const b = raw('{"a":1}');
      b[10] = 0xff;
      return b;
    },
    status: 400,
    message: /not valid UTF-8/,
  },
  {
    name: "duplicate tensor names",
    body: () => {
      const bytes = valid();
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      const text = new TextDecoder().decode(bytes.subarray(8, 8 + n)).trim();
      const dup = text.replace(
        /^\{/,
        '{"logits/bias":{"dtype":"F32","shape":[10],"data_offsets":[0,40]},',
      );
      return raw(dup, bytes.subarray(8 + n));
    },
    status: 400,
    message: /appears more than once/,
  },
  {
    name: "wrong dtype",
    body: () =>
      editHeader((h) => {
        (h["logits/bias"] as { dtype: string }).dtype = "F64";
      }),
    status: 400,
    message: /dtype "F64"/,
  },
  {
    name: "unknown dtype",
    body: () =>
      editHeader((h) => {
        (h["logits/bias"] as { dtype: string }).dtype = "Q7";
      }),
    status: 400,
    message: /dtype/,
  },
  {
    name: "wrong shape",
    body: () => withTensor("logits/bias", new Array(11).fill(0), [11]),
    status: 400,
    message: /shape \[11\], expected \[10\]/,
  },
  {
    name: "shape and bytes disagree",
    body: () =>
      editHeader((h) => {
        (h["logits/bias"] as { shape: number[] }).shape = [5];
      }),
    status: 400,
    message: /logits\/bias/,
  },
  {
    name: "negative dimension",
    body: () =>
      editHeader((h) => {
        (h["logits/bias"] as { shape: number[] }).shape = [-10];
      }),
    status: 400,
    message: /shape/,
  },
  {
    name: "extra tensor",
    body: () => {
      const t = tensors();
      t.set("extra/kernel", { shape: [1], data: Float32Array.of(0) });
      return encodeSafetensors(t, META);
    },
    status: 400,
    message: /extra\/kernel/,
  },
  {
    name: "missing tensor",
    body: () => {
      const t = tensors();
      t.delete("dense1/bias");
      return encodeSafetensors(t, META);
    },
    status: 400,
    message: /dense1\/bias/,
  },
  {
    name: "overlapping data offsets",
    body: () =>
      editHeader((h) => {
        const e = h["logits/bias"] as { data_offsets: number[] };
        e.data_offsets = [e.data_offsets[0]! - 4, e.data_offsets[1]! - 4];
      }),
    status: 400,
    message: /overlaps|gap|trailing/,
  },
  {
    name: "data offsets past the end",
    body: () =>
      editHeader((h) => {
        const e = h["logits/bias"] as { data_offsets: number[] };
        e.data_offsets = [e.data_offsets[0]!, e.data_offsets[1]! + 400];
      }),
    status: 400,
    message: /past the|logits\/bias/,
  },
  {
    name: "trailing bytes",
    body: () => {
      const b = valid();
      const out = new Uint8Array(b.length + 8);
      out.set(b);
      return out;
    },
    status: 400,
    message: /trailing bytes/,
  },
  {
    name: "NaN",
    body: () => withTensor("dense1/bias", [NaN]),
    status: 400,
    message: /not finite|NaN/,
  },
  {
    name: "Infinity",
    body: () => withTensor("dense1/bias", [Infinity]),
    status: 400,
    message: /not finite|Infinity/,
  },
  {
    name: "-Infinity",
    body: () => withTensor("logits/kernel", [0, -Infinity]),
    status: 400,
    message: /not finite|Infinity/,
  },
  {
    name: "norm 1e12",
    body: () => withTensor("logits/bias", [1e12]),
    status: 400,
    message: /L2 norm .* exceeds the bound/,
  },
  {
    name: "negative example count",
    body: () => withMeta({ numLabeled: "-5" }),
    status: 400,
    message: /numLabeled/,
  },
  {
    name: "example count not a number",
    body: () => withMeta({ numUnlabeled: "lots" }),
    status: 400,
    message: /numUnlabeled/,
  },
  {
    name: "no examples",
    body: () => withMeta({ numLabeled: "0", numUnlabeled: "0" }),
    status: 400,
    message: /must be positive/,
  },
  {
    name: "example count past the bound",
    body: () => withMeta({ numLabeled: "1000000000000" }),
    status: 400,
    message: /numLabeled/,
  },
  {
    name: "claim over updates.maxExamples",
    body: () => withMeta({ numLabeled: "60000", numUnlabeled: "40001" }),
    status: 400,
    message: /claims 100001 examples, more than the task's bound updates\.maxExamples = 100000/,
  },
  {
    name: "edge claim over devices x maxExamples",
    body: () => withMeta({ numLabeled: "200001", devices: "2" }),
    status: 400,
    message: /claims 20000\d examples.*times its 2 devices/,
  },
  {
    name: "future round",
    body: () => withMeta({ round: "7" }),
    status: 400,
    message: /round 7 has not opened/,
  },
  { name: "round 0", body: () => withMeta({ round: "0" }), status: 400, message: /round/ },
  {
    name: "wrong base version",
    body: () => withMeta({ baseVersion: "3" }),
    status: 409,
    message: /base version 3/,
  },
  {
    name: "no metadata",
    body: () => encodeSafetensors(tensors()),
    status: 400,
    message: /round/,
  },
  {
    name: "metadata value not a string",
    body: () =>
      editHeader((h) => {
        (h.__metadata__ as Record<string, unknown>).round = 1;
      }),
    status: 400,
    message: /__metadata__|metadata/,
  },
  {
    name: "invalid client id",
    body: () => withMeta({ clientId: "../../etc/passwd" }),
    status: 400,
    message: /clientId must be 1-64/,
  },
  {
    name: "another client's id",
    body: () => withMeta({ clientId: "bob" }),
    status: 403,
    message: /"alice" cannot submit as "bob"/,
  },
  {
    name: "oversized body",
    body: () => new Uint8Array(federation.maxUpdateBytes() + 1),
    status: 413,
    message: new RegExp(`exceeds ${federation.maxUpdateBytes()} bytes`),
  },
  {
    name: "wrong content type",
    body: valid,
    type: "text/plain",
    status: 415,
    message: /Content-Type must be application\/octet-stream/,
  },
  {
    name: "JSON that names no resumable upload",
    body: () => JSON.stringify({ round: 1, weights: [0.1, 0.2] }),
    type: "application/json",
    status: 400,
    message: /Cannot accept update: .*upload/,
  },
  {
    name: "JSON naming an upload that does not exist",
    body: () => JSON.stringify({ upload: "0123456789abcdef0123456789abcdef" }),
    type: "application/json",
    status: 404,
    message: /takes no resumable uploads|No upload/,
  },
  {
    name: "JSON that does not parse",
    body: () => "{upload:",
    type: "application/json",
    status: 400,
    message: /does not parse/,
  },
  {
    name: "no content type",
    body: valid,
    type: null,
    status: 415,
    message: /got none/,
  },
  {
    name: "unknown task",
    body: valid,
    path: "/v1/tasks/no-such-task/updates",
    status: 404,
    message: /No task "no-such-task"/,
  },
  {
    name: "failure report that is not JSON",
    body: () => "round=1",
    type: "application/json",
    path: "/v1/failures",
    status: 400,
    message: /not JSON/,
  },
  {
    name: "failure report with unknown fields",
    body: () => JSON.stringify({ clientId: "alice", round: 1, reason: "x", extra: true }),
    type: "application/json",
    path: "/v1/failures",
    status: 400,
    message: /extra|Unrecognized/i,
  },
];

/** The federation's state; a client's count of refused updates is a record of them, left out. */
function state(): string {
  const { history, clients, ...status } = federation.status();
  return JSON.stringify({
    model: createHash("sha256").update(federation.globalModel().safetensors).digest("hex"),
    status,
    clients: clients.map(({ updatesRejected: _, lastRejection: __, ...client }) => client),
    rounds: history.length,
  });
}

Deno.test(`${CASES.length} kinds of malformed request are refused with a reason and change nothing`, async (t) => {
  assert.ok(CASES.length >= 30);
  const before = state();
  for (const c of CASES) {
    await t.step(c.name, async () => {
      const headers: Record<string, string> = { Authorization: `Bearer ${alice}` };
      const type = c.type === undefined ? OCTET : c.type;
      if (type !== null) headers["Content-Type"] = type;
      const body = c.body?.();
      const res = await app.request(c.path ?? "/v1/updates", {
        method: "POST",
        headers: { ...headers, ...c.headers },
        body: typeof body === "string" ? body : (body as Uint8Array<ArrayBuffer> | undefined),
      });
      const error = ErrorResponseSchema.parse(await res.json());
      assert.equal(res.status, c.status, `${c.name}: ${error.error.message}`);
      assert.match(error.error.message, c.message);
      assert.equal(state(), before, `${c.name} changed the state`);
    });
  }
  // And a valid update after all that is accepted.
  const res = await app.request("/v1/updates", {
    method: "POST",
    headers: { Authorization: `Bearer ${alice}`, "Content-Type": OCTET },
    body: valid() as Uint8Array<ArrayBuffer>,
  });
  assert.equal(res.status, 202);
  assert.equal(federation.status().received, 1);
});

Deno.test("a resend of an accepted update is answered as the first time; a different one is refused", async () => {
  const bob = auth.issue("bob").token;
  const send = (bytes: Uint8Array) =>
    app.request("/v1/updates", {
      method: "POST",
      headers: { Authorization: `Bearer ${bob}`, "Content-Type": OCTET },
      body: bytes as Uint8Array<ArrayBuffer>,
    });
  const bytes = valid();
  const first = await send(bytes);
  assert.equal(first.status, 202);
  const firstBody = await first.json();
  const again = await send(bytes);
  assert.equal(again.status, 202);
  assert.deepEqual(await again.json(), firstBody);
  const before = state();
  const other = await send(encodeSafetensors(tensors(0.002), META));
  assert.equal(other.status, 409);
  assert.match(ErrorResponseSchema.parse(await other.json()).error.message, /already sent one/);
  assert.equal(state(), before);
  // The refusal is on the client's record, for the dashboard.
  const record = federation.status().clients.find((c) => c.id === "bob")!;
  assert.equal(record.updatesRejected, 1);
  assert.match(record.lastRejection!, /^duplicate_update: .*already sent one/);
});
