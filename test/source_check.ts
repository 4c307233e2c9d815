/**
 * The source check: rules about the project's own code that `deno lint` does
 * not know.
 *
 * - No assert of the console object in code (TypeScript and JavaScript
 *   files, and the TypeScript blocks of markdown pages): in Deno it prints
 *   and never throws, so an example or a test that checks with it cannot
 *   fail; `node:assert/strict` throws.
 * - A file or folder whose name starts with `_` is private to the folder that
 *   holds it: nothing outside that folder imports it (a folder's public names
 *   are its other files, gathered in its `mod.ts`).
 * - No import cycle among the project's modules (value imports; an
 *   `import type` is erased and cannot close a cycle).
 *
 * The imports come from Deno's own module graph (`deno info --json`), so
 * examples in comments and strings that look like imports do not count.
 * `deno task check` runs it (`deno run --allow-read --allow-write --allow-run
 * test/source_check.ts`), printing the problems and exiting 1 when there are
 * any.
 * @module
 */
import { join, relative, resolve } from "node:path";

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

/** One import of a project file by another. */
interface ProjectImport {
  from: string;
  to: string;
  /** 1-based line of the import in `from`. */
  line: number;
  /** Only types are imported (erased at run time). */
  typeOnly: boolean;
  /** An `import()` expression. */
  dynamic: boolean;
}

interface DenoInfoDependency {
  specifier: string;
  code?: { specifier: string; span: { start: { line: number } } };
  type?: { specifier: string; span: { start: { line: number } } };
  isDynamic?: boolean;
}

/** The imports among `files` (paths relative to `root`), from `deno info --json`. */
async function projectImports(root: string, files: string[]): Promise<ProjectImport[]> {
  if (files.length === 0) return [];
  const dir = await Deno.makeTempDir({ prefix: "source-check-" });
  try {
    const entry = join(dir, "all.ts");
    const url = (file: string) => new URL(`file://${resolve(root, file)}`).href;
    await Deno.writeTextFile(
      entry,
      files.map((f) => `import ${JSON.stringify(url(f))};`).join("\n"),
    );
    const config = join(root, "deno.json");
    const hasConfig = await Deno.stat(config).then(() => true, () => false);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", ...(hasConfig ? ["--config", config] : ["--no-config"]), entry],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    if (!output.success) {
      throw new Error(
        `deno info failed: ${new TextDecoder().decode(output.stderr).slice(0, 2000)}`,
      );
    }
    const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      modules: { specifier: string; dependencies?: DenoInfoDependency[] }[];
    };
    const prefix = new URL(`file://${resolve(root)}/`).href;
    const local = (specifier: string) =>
      specifier.startsWith(prefix) ? decodeURIComponent(specifier.slice(prefix.length)) : null;
    const imports: ProjectImport[] = [];
    for (const module of graph.modules) {
      const from = local(module.specifier);
      if (from === null) continue;
      for (const dependency of module.dependencies ?? []) {
        const resolved = dependency.code ?? dependency.type;
        const to = resolved && local(resolved.specifier);
        if (!resolved || !to) continue;
        imports.push({
          from,
          to,
          line: resolved.span.start.line + 1,
          typeOnly: dependency.code === undefined,
          dynamic: dependency.isDynamic === true,
        });
      }
    }
    return imports;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Where `to` is private to: the folder holding its first `_` segment, or null when public. */
function privateTo(to: string): string | null {
  const parts = to.split("/");
  const k = parts.findIndex((part) => part.startsWith("_"));
  return k < 0 ? null : parts.slice(0, k).join("/");
}

/** Imports of another folder's `_` files. */
function privateImports(imports: ProjectImport[]): SourceProblem[] {
  return imports.flatMap((i) => {
    const owner = privateTo(i.to);
    if (owner === null) return [];
    const inside = owner === "" || i.from.startsWith(`${owner}/`);
    return inside ? [] : [{
      file: i.from,
      line: i.line,
      message: `imports ${i.to}, private to ${owner}/ (a _ name): import what its mod.ts exports`,
    }];
  });
}

/** Each import cycle once, as the file where it is closed and the ring of files. */
function importCycles(imports: ProjectImport[]): SourceProblem[] {
  const edges = new Map<string, ProjectImport[]>();
  for (const i of imports) {
    if (i.typeOnly || i.dynamic) continue;
    const list = edges.get(i.from) ?? [];
    list.push(i);
    edges.set(i.from, list);
  }
  const problems: SourceProblem[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: ProjectImport[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    for (const edge of [...(edges.get(file) ?? [])].sort((a, b) => a.to < b.to ? -1 : 1)) {
      const seen = state.get(edge.to);
      if (seen === "open") {
        const start = stack.findIndex((e) => e.from === edge.to);
        const ring = [...stack.slice(start < 0 ? stack.length : start), edge].map((e) => e.from);
        problems.push({
          file: edge.from,
          line: edge.line,
          message: `import cycle: ${[...ring, edge.to].join(" -> ")}`,
        });
      } else if (seen === undefined) {
        stack.push(edge);
        visit(edge.to);
        stack.pop();
      }
    }
    state.set(file, "done");
  };
  for (const file of [...edges.keys()].sort()) if (!state.has(file)) visit(file);
  return problems;
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
  const modules: string[] = [];
  for await (const path of files(root, root, exclude)) {
    const file = relative(root, path);
    if (/\.(ts|tsx|js|mjs)$/.test(file)) modules.push(file);
    for (const [line, text] of codeLines(file, await Deno.readTextFile(path))) {
      if (NON_THROWING_ASSERT.test(text)) problems.push({ file, line, message: ASSERT_MESSAGE });
    }
  }
  const imports = await projectImports(root, modules.sort());
  problems.push(...privateImports(imports), ...importCycles(imports));
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
