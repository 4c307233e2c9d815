// The source check on the real tree, and on a scratch tree with a
// non-throwing assert planted in a JSDoc example, in a test file and in a
// markdown page's TypeScript block, which it must catch (and a mention in
// prose, which it must not).
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkSource } from "./source_check.ts";

const root = new URL("..", import.meta.url).pathname;
const planted = ["console", "assert"].join(".");

Deno.test("the source check: the project's code has no non-throwing assert", async () => {
  const problems = await checkSource({ root });
  assert.deepEqual(problems.map((p) => `${p.file}:${p.line}: ${p.message}`), []);
});

Deno.test("the source check fails on a non-throwing assert in an example, a test and a markdown block", async () => {
  const dir = await Deno.makeTempDir({ prefix: "source-check-" });
  try {
    await Deno.mkdir(join(dir, "lib"));
    await Deno.mkdir(join(dir, "node_modules"));
    await Deno.writeTextFile(
      join(dir, "lib", "mod.ts"),
      [
        "/**",
        " * @example",
        " * ```ts",
        ` * ${planted}(1 === 2);`,
        " * ```",
        " */",
        "export const x = 1;",
      ].join("\n"),
    );
    await Deno.writeTextFile(join(dir, "lib", "mod_test.ts"), `${planted}(false);\n`);
    await Deno.writeTextFile(
      join(dir, "README.md"),
      [`Never use \`${planted}\` here.`, "```ts", `${planted}(false);`, "```"].join("\n"),
    );
    // Not the project's code: never read.
    await Deno.writeTextFile(join(dir, "node_modules", "dep.js"), `${planted}(false);\n`);
    const problems = (await checkSource({ root: dir })).map((p) => `${p.file}:${p.line}`);
    assert.deepEqual(problems, ["README.md:3", "lib/mod.ts:4", "lib/mod_test.ts:1"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
