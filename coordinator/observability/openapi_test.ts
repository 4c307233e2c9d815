import { Validator } from "@seriousme/openapi-schema-validator";
import assert from "node:assert/strict";
import { createApp } from "../http/app.ts";
import { openApiDocument } from "./openapi.ts";
import { TaskRegistry } from "../federation/registry.ts";

Deno.test("/v1/openapi.json validates as OpenAPI 3.1", async () => {
  const app = createApp(new TaskRegistry());
  const response = await app.request("/v1/openapi.json");
  assert.equal(response.status, 200);
  const document = await response.json();
  const validator = new Validator();
  const result = await validator.validate(document);
  assert.equal(validator.version, "3.1");
  assert.ok(result.valid, JSON.stringify(result.errors));
});

Deno.test("the document lists exactly the v1 routes the app serves", () => {
  const app = createApp(new TaskRegistry());
  const served = new Set(
    app.routes
      .filter((r) => r.path.startsWith("/v1") && r.method !== "ALL")
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`),
  );
  const documented = new Set(
    Object.entries(openApiDocument().paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method} ${path}`)
    ),
  );
  assert.deepEqual([...served].sort(), [...documented].sort());
});

Deno.test("every operation describes its errors with the one error schema", () => {
  for (const [path, methods] of Object.entries(openApiDocument().paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const responses = (op as { responses: Record<string, { content?: object }> }).responses;
      const statuses = Object.keys(responses).map(Number);
      assert.ok(statuses.some((s) => s < 300), `${method} ${path} has a success answer`);
      const secured = !("security" in (op as object));
      if (secured) assert.ok(statuses.includes(401), `${method} ${path} lists 401`);
      for (const status of statuses.filter((s) => s >= 400)) {
        assert.deepEqual(responses[String(status)]!.content, {
          "application/json": { schema: { $ref: "#/components/schemas/ErrorResponse" } },
        });
      }
    }
  }
});

Deno.test("request schemas in the document are the ones that validate requests", async () => {
  const app = createApp(new TaskRegistry());
  const document = openApiDocument() as unknown as {
    components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
  };
  // FailureReport: the document's fields are the ones the app asks for.
  const fields = Object.keys(document.components.schemas.FailureReport!.properties!).sort();
  assert.deepEqual(fields, ["clientId", "reason", "round"]);
  const refused = await app.request("/v1/failures", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ clientId: "c1" }),
  });
  const message = (await refused.json()).error.message as string;
  for (const missing of ["round", "reason"]) assert.match(message, new RegExp(missing));
});

Deno.test("/docs serves Swagger UI over the document, from the package", async () => {
  const app = createApp(new TaskRegistry());
  const page = await (await app.request("/docs")).text();
  assert.match(page, /swagger-ui-bundle\.js/);
  assert.match(await (await app.request("/docs/init.js")).text(), /\/v1\/openapi\.json/);
  const bundle = await app.request("/docs/swagger-ui-bundle.js");
  assert.equal(bundle.status, 200);
  assert.ok((await bundle.arrayBuffer()).byteLength > 100_000);
  assert.equal((await app.request("/docs/secret.txt")).status, 404);
});
