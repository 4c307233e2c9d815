// Every client and admin endpoint, called without a token, with a wrong
// token, with a revoked token, with an enrolment token, and (where a client
// acts for itself) with another client's token, is refused with 401 or 403
// and changes nothing.
import assert from "node:assert/strict";
import { serveTask } from "../testing/test_app.ts";
import { createHash } from "node:crypto";
import { encodeSafetensors, type Float32Tensor } from "../../shared/wire/safetensors.ts";
import { ErrorResponseSchema } from "../../shared/schemas/mod.ts";
import { mnistMlpTask } from "../../shared/tasks/mnist_mlp.ts";
import { elementCount } from "../../shared/shape.ts";

const task = mnistMlpTask({
  rounds: { total: 2, targetClients: 3, minClients: 1, timeoutSeconds: 600 },
});
const { federation, registry, auth, adminToken, app } = await serveTask(task);
const enrolment = auth.createEnrolmentToken();
const alice = auth.enrol(`Bearer ${enrolment}`, { clientId: "alice" }).token;
const bob = auth.enrol(`Bearer ${enrolment}`, { clientId: "bob" }).token;
const revoked = auth.enrol(`Bearer ${enrolment}`, { clientId: "mallory" }).token;
auth.revoke("mallory");

function updateBytes(clientId: string): Uint8Array {
  const tensors = new Map<string, Float32Tensor>(
    federation.trainable.map(({ name, shape }) => [name, {
      shape,
      data: new Float32Array(elementCount(shape)).fill(0.001),
    }]),
  );
  return encodeSafetensors(tensors, {
    round: "1",
    baseVersion: "0",
    numLabeled: "1",
    numUnlabeled: "0",
    clientId,
  });
}

interface Endpoint {
  method: string;
  path: string;
  body?: () => BodyInit;
  type?: string;
  admin: boolean;
}

const update = () => updateBytes("alice") as Uint8Array<ArrayBuffer>;
const failure = () => JSON.stringify({ clientId: "alice", round: 1, reason: "test" });
const CLIENT_ENDPOINTS: Endpoint[] = ["/v1", "/v1/tasks/mnist-mlp"].flatMap((p) => [
  { method: "GET", path: `${p}/task`, admin: false },
  { method: "GET", path: `${p}/status`, admin: false },
  { method: "GET", path: `${p}/model`, admin: false },
  { method: "GET", path: `${p}/model/model.json`, admin: false },
  { method: "GET", path: `${p}/model/weights.bin`, admin: false },
  {
    method: "POST",
    path: `${p}/updates`,
    body: update,
    type: "application/octet-stream",
    admin: false,
  },
  { method: "POST", path: `${p}/failures`, body: failure, type: "application/json", admin: false },
]);
const ADMIN_ENDPOINTS: Endpoint[] = [
  {
    method: "POST",
    path: "/v1/tasks",
    body: () => JSON.stringify({ id: "new-task", model: { builtin: "mnist-mlp" } }),
    type: "application/json",
    admin: true,
  },
  { method: "POST", path: "/v1/tasks/mnist-mlp/pause", admin: true },
  { method: "POST", path: "/v1/tasks/mnist-mlp/resume", admin: true },
  { method: "POST", path: "/v1/tasks/mnist-mlp/stop", admin: true },
  { method: "POST", path: "/v1/enrolment-tokens", admin: true },
  { method: "GET", path: "/v1/clients", admin: true },
  {
    method: "POST",
    path: "/v1/clients",
    body: () => JSON.stringify({ clientId: "eve" }),
    type: "application/json",
    admin: true,
  },
  { method: "POST", path: "/v1/clients/bob/revoke", admin: true },
];

async function call(endpoint: Endpoint, token: string | null): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  if (endpoint.type) headers["Content-Type"] = endpoint.type;
  return await app.request(endpoint.path, {
    method: endpoint.method,
    headers,
    body: endpoint.body?.(),
  });
}

/** What a refused request must leave as it was. */
function snapshot(): string {
  const { history: _history, ...status } = federation.status();
  return JSON.stringify({
    status,
    model: createHash("sha256").update(federation.globalModel().safetensors).digest("hex"),
    version: federation.version,
    clients: auth.clients(),
    tasks: registry.list(),
  });
}

Deno.test("every endpoint refuses a missing, wrong, revoked or enrolment token with 401/403 and changes nothing", async () => {
  const before = snapshot();
  const cases: [string, string | null, number][] = [
    ["no token", null, 401],
    ["a wrong token", "cli_not-a-real-token", 401],
    ["a revoked token", revoked, 401],
    ["an enrolment token", enrolment, 403],
  ];
  for (const endpoint of [...CLIENT_ENDPOINTS, ...ADMIN_ENDPOINTS]) {
    for (const [what, token, status] of cases) {
      const res = await call(endpoint, token);
      const body = ErrorResponseSchema.parse(await res.json());
      assert.equal(res.status, status, `${endpoint.method} ${endpoint.path} with ${what}`);
      assert.ok(body.error.message.length > 5);
      if (status === 401) assert.match(res.headers.get("WWW-Authenticate") ?? "", /Bearer/);
    }
  }
  // A client's token on admin endpoints: 403.
  for (const endpoint of ADMIN_ENDPOINTS) {
    const res = await call(endpoint, alice);
    assert.equal(res.status, 403, `${endpoint.method} ${endpoint.path} with a client token`);
    assert.equal(ErrorResponseSchema.parse(await res.json()).error.code, "forbidden");
  }
  assert.equal(snapshot(), before);
});

Deno.test("a client cannot act as another client, and the admin token cannot submit", async () => {
  const before = snapshot();
  const asAlice: Endpoint[] = [
    {
      method: "POST",
      path: "/v1/updates",
      body: update,
      type: "application/octet-stream",
      admin: false,
    },
    {
      method: "POST",
      path: "/v1/failures",
      body: failure,
      type: "application/json",
      admin: false,
    },
    { method: "GET", path: "/v1/model?clientId=alice", admin: false },
  ];
  for (const endpoint of asAlice) {
    const res = await call(endpoint, bob);
    assert.equal(res.status, 403, `${endpoint.method} ${endpoint.path} with bob's token`);
    assert.match(ErrorResponseSchema.parse(await res.json()).error.message, /"bob" cannot/);
    const admin = await call(endpoint, adminToken);
    assert.equal(admin.status, 403, `${endpoint.method} ${endpoint.path} with the admin token`);
    await admin.body?.cancel();
  }
  assert.equal(snapshot(), before);
});

Deno.test("with the right tokens the same calls succeed", async () => {
  const res = await call(CLIENT_ENDPOINTS[5]!, alice);
  assert.equal(res.status, 202, await res.clone().text());
  assert.equal(federation.status().received, 1);
  assert.equal(federation.status().clients[0]?.id, "alice");
  const clients = await call(ADMIN_ENDPOINTS[5]!, adminToken);
  assert.deepEqual(
    (await clients.json()).clients.map((c: { clientId: string }) => c.clientId),
    ["alice", "bob", "mallory"],
  );
  // Enrolling: a new client gets a token that works; the same id again is refused.
  const enrol = await app.request("/v1/enrol", {
    method: "POST",
    headers: { Authorization: `Bearer ${enrolment}`, "Content-Type": "application/json" },
    body: JSON.stringify({ clientId: "carol" }),
  });
  assert.equal(enrol.status, 201);
  const carol = (await enrol.json()).token;
  assert.equal((await call(CLIENT_ENDPOINTS[0]!, carol)).status, 200);
  const again = await app.request("/v1/enrol", {
    method: "POST",
    headers: { Authorization: `Bearer ${enrolment}` },
    body: JSON.stringify({ clientId: "carol" }),
  });
  assert.equal(again.status, 409);
  // Revoking bob through the API locks bob out.
  assert.equal((await call(ADMIN_ENDPOINTS[7]!, adminToken)).status, 200);
  assert.equal((await call(CLIENT_ENDPOINTS[0]!, bob)).status, 401);
  await federation.settled();
});
