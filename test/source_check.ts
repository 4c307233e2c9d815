/**
 * The source check: rules about the project's own code that `deno lint` does
 * not know. Today one rule: no assert of the console object in code
 * (TypeScript and JavaScript files, and the TypeScript blocks of markdown
 * pages), since in Deno it prints and never throws, so an example or a test
 * that checks with it cannot fail; `node:assert/strict` throws.
 *
 * `deno task check` runs it (`deno run --allow-read test/source_check.ts`),
 * printing the problems and exiting 1 when there are any.
 * @module
 */
import { join, relative } from "node:path";

/** Options of {@linkcode checkSource}. */
export interface CheckSourceOptions {
  /** The repository root; every file under it is read but for the excluded folders. */
  root: string;
  /** Folder names never entered. @default node_modules, runs, dist, artifacts and dot-folders */
  exclude?: readonly string[];
}

/** One rule broken, with where: `file:line: message`. */
export interface SourceProblem {
  /** The file, relative to the root. */
  file: string;
  /** 1-based line. */
  line: number;
  message: string;
}

const EXCLUDE = ["node_modules", "runs", "dist", "artifacts"];
const CODE = /\.(ts|tsx|js|mjs|cjs)$/;
const NON_THROWING_ASSERT = /\bconsole\s*\.\s*assert\b/;
const FENCE = /^\s*(`{3,}|~{3,})\s*(\w*)/;

/** The message for a non-throwing assert, named without writing it out (this file is checked too). */
const ASSERT_MESSAGE = `console${"."}assert never throws in Deno, so the check cannot fail: ` +
  'use node:assert/strict (import assert from "node:assert/strict")';

/** The lines of `text` that code runs, 1-based: all of a code file, the ts/js blocks of markdown. */
function codeLines(file: string, text: string): [number, string][] {
  const lines = text.split("\n").map((line, i) => [i + 1, line] as [number, string]);
  if (CODE.test(file)) return lines;
  const code: [number, string][] = [];
  let fence: string | null = null;
  let inCode = false;
  for (const [n, line] of lines) {
    const match = FENCE.exec(line);
    if (fence === null && match) {
      fence = match[1]!;
      inCode = /^(ts|tsx|typescript|js|javascript|jsx)$/i.test(match[2] ?? "");
    } else if (fence !== null && match && match[1]!.startsWith(fence) && !match[2]) {
      fence = null;
      inCode = false;
    } else if (inCode) code.push([n, line]);
  }
  return code;
}

async function* files(
  root: string,
  dir: string,
  exclude: readonly string[],
): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) {
      if (!entry.name.startsWith(".") && !exclude.includes(entry.name)) {
        yield* files(root, path, exclude);
      }
    } else if (entry.isFile && (CODE.test(entry.name) || entry.name.endsWith(".md"))) {
      yield path;
    }
  }
}

/**
 * Every broken rule under `root`, sorted by file and line.
 *
 * @example
 * ```ts
 * import { checkSource } from "./source_check.ts";
 * import assert from "node:assert/strict";
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/ok.ts`, 'import assert from "node:assert/strict";\nassert.ok(true);\n');
 * assert.deepEqual(await checkSource({ root }), []);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function checkSource(options: CheckSourceOptions): Promise<SourceProblem[]> {
  const { root, exclude = EXCLUDE } = options;
  const problems: SourceProblem[] = [];
  for await (const path of files(root, root, exclude)) {
    const file = relative(root, path);
    for (const [line, text] of codeLines(file, await Deno.readTextFile(path))) {
      if (NON_THROWING_ASSERT.test(text)) problems.push({ file, line, message: ASSERT_MESSAGE });
    }
  }
  return problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url).pathname;
  const problems = await checkSource({ root });
  for (const p of problems) console.error(`${p.file}:${p.line}: ${p.message}`);
  if (problems.length > 0) {
    console.error(`source check: ${problems.length} problem(s)`);
    Deno.exit(1);
  }
  console.log("source check: ok");
}
