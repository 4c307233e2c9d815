/**
 * Builds the client page into `client/web/dist/`: the page's and the
 * training worker's scripts bundled for browsers (tfjs with its webgpu,
 * webgl, wasm and cpu backends), the HTML and CSS, and tfjs's wasm binaries.
 * The coordinator serves that folder at `/client`.
 *
 * `deno task build-web`
 * @module
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

/** Where the built page goes. */
export const WEB_DIST = fromFileUrl(new URL("./dist/", import.meta.url));

const here = fromFileUrl(new URL("./", import.meta.url));
const ENTRIES = ["page.ts", "train_worker.ts"];
const STATIC = ["index.html", "style.css"];

function wasmDirectory(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
}

async function bundle(entry: string, output: string): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--minify",
      "-o",
      output,
      join(here, entry),
    ],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`Cannot bundle ${entry}: ${new TextDecoder().decode(stderr)}`);
  }
}

/**
 * Builds the page into `outDir` (a temporary folder renamed into place, so a
 * running coordinator never serves half a build) and returns the files.
 *
 * @example
 * ```ts ignore
 * import { buildWeb } from "./build.ts";
 * await buildWeb();
 * ```
 */
export async function buildWeb(outDir: string = WEB_DIST): Promise<string[]> {
  const target = outDir.replace(/\/+$/, "");
  const temporary = `${target}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(temporary, { recursive: true });
  try {
    for (const entry of ENTRIES) {
      await bundle(entry, join(temporary, entry.replace(/\.ts$/, ".js")));
    }
    for (const file of STATIC) await Deno.copyFile(join(here, file), join(temporary, file));
    const wasm = wasmDirectory();
    for await (const entry of Deno.readDir(wasm)) {
      if (entry.name.endsWith(".wasm")) {
        await Deno.copyFile(join(wasm, entry.name), join(temporary, entry.name));
      }
    }
    const old = `${target}.old-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.rename(target, old).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
    await Deno.rename(temporary, target);
    await Deno.remove(old, { recursive: true }).catch(() => {});
  } catch (error) {
    await Deno.remove(temporary, { recursive: true }).catch(() => {});
    throw error;
  }
  return [...Deno.readDirSync(target)].map((e) => e.name).sort();
}

if (import.meta.main) {
  const started = performance.now();
  const files = await buildWeb();
  console.log(
    `build-web: ${files.join(", ")} in ${WEB_DIST} (${
      ((performance.now() - started) / 1000).toFixed(1)
    } s)`,
  );
}
