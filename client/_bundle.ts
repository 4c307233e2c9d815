// Bundling for the builds of the client page and of the Node.js client:
// `deno bundle` run by the same Deno, and a folder replaced all at once.
import { join } from "node:path";

/** Bundles `entry` into `output` with `deno bundle` and the given flags. */
export async function bundle(entry: string, output: string, flags: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", ...flags, "-o", output, entry],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`Cannot bundle ${entry}: ${new TextDecoder().decode(stderr)}`);
  }
}

/**
 * Fills a new folder with `fill` and renames it to `target`, so that readers
 * never see half a build; returns the files built.
 */
export async function buildInto(
  target: string,
  fill: (dir: string) => Promise<void>,
): Promise<string[]> {
  const folder = target.replace(/\/+$/, "");
  const temporary = `${folder}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(temporary, { recursive: true });
  try {
    await fill(temporary);
    const old = `${folder}.old-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.rename(folder, old).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
    await Deno.rename(temporary, folder);
    await Deno.remove(old, { recursive: true }).catch(() => {});
  } catch (error) {
    await Deno.remove(temporary, { recursive: true }).catch(() => {});
    throw error;
  }
  return [...Deno.readDirSync(folder)].map((e) => e.name).sort();
}

/** Runs a build as a task: prints the files built, where, and how long it took. */
export async function reportBuild(
  label: string,
  where: string,
  build: () => Promise<string[]>,
): Promise<void> {
  const started = performance.now();
  const files = await build();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${label}: ${files.join(", ")} in ${where} (${seconds} s)`);
}

/** `join`, re-exported for the builders. */
export { join };
