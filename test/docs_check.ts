/**
 * The docs check: in README.md and docs/*.md every relative link points at a
 * file that exists, every `#anchor` at a heading of its page (GitHub's
 * slugs), and every `deno task NAME` they mention at a task of deno.json.
 * (Their TypeScript blocks are type-checked and run by `deno test --doc`.)
 *
 * `deno task check-docs` prints the problems and exits 1 when there are any.
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";

/** Options of {@linkcode checkDocs}. */
export interface CheckDocsOptions {
  /** The repository root: README.md, docs/ and deno.json are read from there. */
  root: string;
}

/** One broken reference, e.g. `docs/a.md:12: no heading "#x" in docs/b.md`. */
export interface DocsProblem {
  /** The markdown file, relative to the root. */
  file: string;
  /** 1-based line. */
  line: number;
  message: string;
}

/**
 * GitHub's anchor of a heading: lower case, punctuation dropped, spaces to
 * hyphens.
 *
 * @example
 * ```ts
 * import { slug } from "./docs_check.ts";
 * import assert from "node:assert/strict";
 * assert.equal(slug("Semi-supervised learning, measured: `deno task simulate`"), "semi-supervised-learning-measured-deno-task-simulate");
 * ```
 */
export function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
}

/** The lines of a markdown text outside fenced code blocks, with their numbers. */
function prose(text: string): { line: string; number: number }[] {
  const out: { line: string; number: number }[] = [];
  let fence = false;
  text.split("\n").forEach((line, i) => {
    if (/^\s*```/.test(line)) fence = !fence;
    else if (!fence) out.push({ line, number: i + 1 });
  });
  return out;
}

/** The anchors of a markdown text's headings (duplicates get -1, -2, … as on GitHub). */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const { line } of prose(text)) {
    const heading = line.match(/^#{1,6} (.+?)\s*#*\s*$/)?.[1];
    if (!heading) continue;
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    out.add(count ? `${base}-${count}` : base);
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The markdown files a check reads: README.md and every .md under docs/. */
async function markdownFiles(root: string): Promise<string[]> {
  const files = [join(root, "README.md")];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".md")) files.push(path);
    }
  };
  if (await exists(join(root, "docs"))) await walk(join(root, "docs"));
  return files.sort();
}

/**
 * Every broken link, anchor and task name in the docs under `root`; none
 * when the docs are whole.
 *
 * @example
 * ```ts ignore
 * import { checkDocs } from "./docs_check.ts";
 * const problems = await checkDocs({ root: "." });
 * ```
 */
export async function checkDocs(options: CheckDocsOptions): Promise<DocsProblem[]> {
  const root = resolve(options.root);
  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  const tasks = new Set(Object.keys(config.tasks ?? {}));
  const problems: DocsProblem[] = [];
  const texts = new Map<string, string>();
  const read = async (path: string) => {
    if (!texts.has(path)) texts.set(path, await Deno.readTextFile(path));
    return texts.get(path)!;
  };
  for (const path of await markdownFiles(root)) {
    const file = relative(root, path);
    const text = await read(path);
    const problem = (number: number, message: string) =>
      problems.push({ file, line: number, message });
    text.split("\n").forEach((line, i) => {
      for (const m of line.matchAll(/\bdeno(?:@\d+)? task ([a-z][\w:-]*)/g)) {
        if (!tasks.has(m[1]!)) problem(i + 1, `"deno task ${m[1]}": no such task in deno.json`);
      }
    });
    for (const { line, number } of prose(text)) {
      const outsideCode = line.replace(/`[^`]*`/g, "");
      for (
        const m of outsideCode.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)
      ) {
        const target = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, …
        const [pathPart, anchor] = target.split("#", 2) as [string, string | undefined];
        const targetPath = pathPart ? resolve(dirname(path), decodeURI(pathPart)) : path;
        if (pathPart && !(await exists(targetPath))) {
          problem(number, `link "${target}": ${relative(root, targetPath)} does not exist`);
          continue;
        }
        if (anchor === undefined) continue;
        if (!targetPath.endsWith(".md")) {
          problem(number, `link "${target}": an anchor into a file that is not markdown`);
        } else if (!anchors(await read(targetPath)).has(anchor)) {
          problem(
            number,
            `link "${target}": no heading "#${anchor}" in ${relative(root, targetPath)}`,
          );
        }
      }
    }
  }
  return problems;
}

if (import.meta.main) {
  const problems = await checkDocs({ root: new URL("..", import.meta.url).pathname });
  for (const p of problems) console.error(`${p.file}:${p.line}: ${p.message}`);
  if (problems.length) Deno.exit(1);
  console.log("docs: every link, anchor and task name resolves");
}
