/**
 * docs/api.md, written from the OpenAPI document (`deno task docs-api`), so
 * the HTTP API's page cannot drift from the routes: a test checks that the
 * committed page equals what this writes.
 *
 * `deno task docs-api` writes docs/api.md.
 * @module
 */
import { openApiDocument } from "./openapi.ts";

type Json = Record<string, unknown>;

const METHODS = ["get", "post", "patch", "delete"];

const TOKEN_TEXT: Record<string, string> = {
  none: "none",
  any: "any",
  client: "a client's, as itself",
  admin: "the admin's",
};

/** The name of a `$ref`'d schema, or the media type of a body. */
function bodyName(content: Json | undefined): string {
  if (!content) return "";
  return Object.entries(content).map(([type, value]) => {
    const ref = ((value as Json).schema as Json | undefined)?.$ref;
    return typeof ref === "string" ? `[${ref.split("/").pop()}](#${anchor(ref)})` : `\`${type}\``;
  }).join(" or ");
}

function anchor(ref: string): string {
  return ref.split("/").pop()!.toLowerCase();
}

/** A JSON schema in a few words: `string`, `int[]`, `Status`, `"a" \| "b"`, … */
function typeOf(schema: Json | undefined): string {
  if (!schema) return "any";
  if (typeof schema.$ref === "string") return schema.$ref.split("/").pop()!;
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(" \\| ");
  if ("const" in schema) return JSON.stringify(schema.const);
  for (const key of ["anyOf", "oneOf"]) {
    if (Array.isArray(schema[key])) return (schema[key] as Json[]).map(typeOf).join(" \\| ");
  }
  if (schema.type === "array") return `${typeOf(schema.items as Json | undefined)}[]`;
  if (schema.type === "integer") return "int";
  if (Array.isArray(schema.type)) return schema.type.join(" \\| ");
  if (typeof schema.type === "string") return schema.type;
  return "any";
}

function cell(text: string): string {
  return text.replace(/\r?\n/g, " ").replaceAll("|", "\\|").replaceAll("\\\\|", "\\|");
}

/**
 * The HTTP API page in markdown: every route (method, path, what, who may
 * call it, body, success answer, error statuses), then every schema's fields.
 *
 * @example
 * ```ts
 * import { apiMarkdown } from "./api_docs.ts";
 * import assert from "node:assert/strict";
 * const page = apiMarkdown();
 * assert.match(page, /^# HTTP API \(v1\)/);
 * assert.match(page, /\| POST \| `\/v1\/updates` \|/);
 * ```
 */
export function apiMarkdown(doc: ReturnType<typeof openApiDocument> = openApiDocument()): string {
  const info = doc.info as Json;
  const lines = [
    "# HTTP API (v1)",
    "",
    "<!-- Written by `deno task docs-api` from the OpenAPI document (coordinator/observability/openapi.ts); do not edit. -->",
    "",
    String(info.description),
    "",
    "The coordinator serves this document at `GET /v1/openapi.json` (Swagger UI at `/docs`). Every",
    "task route exists as `/v1/…` for the default task and as `/v1/tasks/{taskId}/…` for any task",
    "(the table lists the first). Errors are JSON,",
    '`{"error": {"code": "invalid_update", "message": "Cannot accept update: …"}}`; the update\'s',
    "bytes are described in [the wire format](wire-format.md).",
    "",
    "## Routes",
    "",
    "| method | path | what | token | body | answer | errors |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const [path, item] of Object.entries(doc.paths)) {
    if (path.startsWith("/v1/tasks/{taskId}/") && `/v1/${path.slice(19)}` in doc.paths) continue;
    for (const method of METHODS) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const responses = op.responses as Record<string, Json>;
      const [success, ...rest] = Object.keys(responses);
      const answer = responses[success!]!;
      const token = TOKEN_TEXT[String(op["x-token"])] ?? String(op["x-token"]);
      const query = ((op.parameters as Json[] | undefined) ?? [])
        .filter((p) => p.in === "query")
        .map((p) => `\`?${p.name}\`${p.required ? "" : " (optional)"}: ${p.description}`);
      const what = [String(op.summary), ...query].join("; ");
      lines.push(
        `| ${method.toUpperCase()} | \`${path}\` | ${cell(what)} | ${token} | ${
          bodyName((op.requestBody as Json | undefined)?.content as Json | undefined)
        } | ${success} ${bodyName(answer.content as Json | undefined)} | ${rest.join(", ")} |`,
      );
    }
  }
  lines.push("", "## Error statuses", "", "| status | meaning |", "| --- | --- |");
  const statuses = new Map<string, string>();
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item) as Json[]) {
      for (const [status, response] of Object.entries(op.responses as Record<string, Json>)) {
        if (Number(status) >= 400) statuses.set(status, String(response.description));
      }
    }
  }
  for (const [status, meaning] of [...statuses].sort()) {
    lines.push(`| ${status} | ${cell(meaning)} |`);
  }
  lines.push("", "## Schemas");
  const schemas = (doc.components as Json).schemas as Record<string, Json>;
  for (const [name, schema] of Object.entries(schemas)) {
    lines.push("", `### ${name}`, "");
    const properties = schema.properties as Record<string, Json> | undefined;
    if (!properties) {
      lines.push(`\`${typeOf(schema)}\``);
      continue;
    }
    const required = new Set((schema.required as string[] | undefined) ?? []);
    lines.push("| field | type | required | description |", "| --- | --- | --- | --- |");
    for (const [field, value] of Object.entries(properties)) {
      lines.push(
        `| \`${field}\` | ${cell(typeOf(value))} | ${required.has(field) ? "yes" : "no"} | ${
          cell(String(value.description ?? ""))
        } |`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

if (import.meta.main) {
  const path = new URL("../../docs/api.md", import.meta.url);
  await Deno.writeTextFile(path, apiMarkdown());
  console.log(`wrote ${path.pathname}`);
}
