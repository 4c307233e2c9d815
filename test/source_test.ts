// The source check on the real tree, and on scratch trees with what it must
// catch planted: a non-throwing assert in a JSDoc example, a test file and a
// markdown page's TypeScript block (and a mention in prose, which it must
// not); an import of another folder's `_` file and an import cycle (and a
// cycle of type-only imports and an import in a comment, which it must not).
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkSource } from "./source_check.ts";

const root = new URL("..", import.meta.url).pathname;
const planted = ["console", "assert"].join(".");

Deno.test("the source check passes on the project: no non-throwing assert, no private import, no cycle", async () => {
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

Deno.test("the source check fails on an import of another folder's _ file and on an import cycle", async () => {
  const dir = await Deno.makeTempDir({ prefix: "source-check-" });
  const write = async (path: string, text: string) => {
    await Deno.mkdir(join(dir, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir, path), text);
  };
  try {
    await write("deno.json", "{}");
    await write("a/_secret.ts", "export const secret = 1;\n");
    await write("a/_deep/x.ts", "export const x = 2;\n");
    // Inside a/ (and below it), a/'s private files are fair game.
    await write(
      "a/mod.ts",
      'export { secret } from "./_secret.ts";\nexport { x } from "./_deep/x.ts";\n',
    );
    await write(
      "a/inner/use.ts",
      'import { secret } from "../_secret.ts";\nexport const y = secret;\n',
    );
    // Outside a/: the public mod.ts is fine, the private file is not.
    await write(
      "b/use.ts",
      [
        'import { x } from "../a/mod.ts";',
        'import { secret } from "../a/_secret.ts";',
        "/**",
        " * ```ts",
        ' * import { x } from "../a/_deep/x.ts";',
        " * ```",
        " */",
        "export const z = secret + x;",
      ].join("\n"),
    );
    await write("c/p.ts", 'import { q } from "./q.ts";\nexport const p = () => q;\n');
    await write("c/q.ts", 'import { p } from "./p.ts";\nexport const q = () => p;\n');
    // Types only: erased at run time, no cycle.
    await write("d/r.ts", 'import type { S } from "./s.ts";\nexport type R = { s?: S };\n');
    await write("d/s.ts", 'import type { R } from "./r.ts";\nexport type S = { r?: R };\n');
    const problems = (await checkSource({ root: dir })).map((p) =>
      `${p.file}:${p.line}: ${p.message}`
    );
    assert.deepEqual(problems, [
      "b/use.ts:2: imports a/_secret.ts, private to a/ (a _ name): import what its mod.ts exports",
      "c/q.ts:1: import cycle: c/p.ts -> c/q.ts -> c/p.ts",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
