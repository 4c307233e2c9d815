/**
 * The arguments that run one of the project's scripts under `deno run` with
 * the permissions its deno task gives (read, write, net, env, sys), for tests
 * that start it as its own process.
 * @module
 */

/**
 * `deno run` with the task permissions, the script (a path relative to the
 * repository root) and its flags.
 *
 * @example
 * ```ts
 * import { denoRunArgs } from "./_deno_run.ts";
 * import assert from "node:assert/strict";
 * assert.equal(denoRunArgs("demo.ts", ["--rounds", "1"]).at(-3)?.endsWith("/demo.ts"), true);
 * ```
 */
export function denoRunArgs(script: string, flags: string[]): string[] {
  return [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-net",
    "--allow-env",
    "--allow-sys",
    new URL(`../${script}`, import.meta.url).pathname,
    ...flags,
  ];
}

/**
 * Runs one of the project's scripts as its own process ({@linkcode denoRunArgs})
 * and waits for it: its exit code, and its standard output and error as text.
 *
 * @example
 * ```ts ignore
 * import { runDenoScript } from "./_deno_run.ts";
 * const { code, stdout } = await runDenoScript("demo.ts", ["--rounds", "1"]);
 * ```
 */
export async function runDenoScript(
  script: string,
  flags: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(script, flags),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}
