// The docs check on the real docs, and on a copy with one link, one anchor
// and one task name broken, which it must catch; the API page must be what
// `deno task docs-api` writes from the OpenAPI document.
import assert from "node:assert/strict";
import { join } from "node:path";
import { apiMarkdown } from "../coordinator/observability/api_docs.ts";
import { anchors, checkDocs } from "./docs_check.ts";

const root = new URL("..", import.meta.url).pathname;

Deno.test("the docs: every relative link, anchor and deno task in README.md and docs/ resolves", async () => {
  const problems = await checkDocs({ root });
  assert.deepEqual(problems.map((p) => `${p.file}:${p.line}: ${p.message}`), []);
});

Deno.test("the docs check fails on a broken link, a broken anchor and an unknown task", async () => {
  const dir = await Deno.makeTempDir({ prefix: "docs-check-" });
  try {
    await Deno.mkdir(join(dir, "docs"));
    await Deno.writeTextFile(join(dir, "deno.json"), JSON.stringify({ tasks: { demo: "x" } }));
    await Deno.writeTextFile(
      join(dir, "README.md"),
      [
        "# Title",
        "Run `npx -y deno@2 task demo`; see [security](docs/security.md#tokens).",
        "```sh",
        "deno task demo",
        "[not a link](nowhere.md)",
        "```",
      ].join("\n"),
    );
    await Deno.writeTextFile(
      join(dir, "docs", "security.md"),
      "# Security\n\n## Tokens\n\nBack to [the start](../README.md#title).\n",
    );
    assert.deepEqual(await checkDocs({ root: dir }), []);

    // Break one of each.
    await Deno.writeTextFile(
      join(dir, "docs", "security.md"),
      [
        "# Security",
        "",
        "## Tokens",
        "",
        "Back to [the start](../README.md#titel), [privacy](privacy.md) and `deno task demo2`.",
      ].join("\n"),
    );
    const problems = (await checkDocs({ root: dir })).map((p) =>
      `${p.file}:${p.line}: ${p.message}`
    );
    assert.deepEqual(problems.sort(), [
      'docs/security.md:5: "deno task demo2": no such task in deno.json',
      'docs/security.md:5: link "../README.md#titel": no heading "#titel" in README.md',
      'docs/security.md:5: link "privacy.md": docs/privacy.md does not exist',
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("anchors follow GitHub's slugs, duplicates numbered", () => {
  const text = "# A: b `c`\n## Same\n## Same\n```\n# not a heading\n```\n";
  assert.deepEqual([...anchors(text)], ["a-b-c", "same", "same-1"]);
});

Deno.test("docs/api.md is what deno task docs-api writes from the OpenAPI document", async () => {
  const committed = await Deno.readTextFile(join(root, "docs", "api.md"));
  assert.ok(committed === apiMarkdown(), "docs/api.md is out of date: run `deno task docs-api`");
});
