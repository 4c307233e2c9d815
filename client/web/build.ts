/**
 * Builds the client page and the dashboard into `client/web/dist/`: the
 * page's, the training worker's and the dashboard's scripts bundled for
 * browsers (tfjs with its webgpu, webgl, wasm and cpu backends; uPlot), the
 * HTML and CSS, and tfjs's wasm binaries. The coordinator serves that folder
 * at `/client`, and the dashboard at `/`.
 *
 * `deno task build-web`
 * @module
 */
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { buildInto, bundle, join, reportBuild } from "../_bundle.ts";
import { fileURLToPath as fromFileUrl } from "node:url";

/** Where the built page goes. */
export const WEB_DIST = fromFileUrl(new URL("./dist/", import.meta.url));

const here = fromFileUrl(new URL("./", import.meta.url));
const ENTRIES = ["page.ts", "train_worker.ts", "dashboard.ts"];
const STATIC = ["index.html", "style.css", "dashboard.html", "dashboard.css"];

function wasmDirectory(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
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
  return await buildInto(outDir, async (dir) => {
    for (const entry of ENTRIES) {
      await bundle(join(here, entry), join(dir, entry.replace(/\.ts$/, ".js")), [
        "--platform",
        "browser",
        "--minify",
      ]);
    }
    for (const file of STATIC) await Deno.copyFile(join(here, file), join(dir, file));
    const uplot = dirname(createRequire(import.meta.url).resolve("uplot/package.json"));
    await Deno.copyFile(join(uplot, "dist", "uPlot.min.css"), join(dir, "uplot.css"));
    const wasm = wasmDirectory();
    for await (const entry of Deno.readDir(wasm)) {
      if (entry.name.endsWith(".wasm")) {
        await Deno.copyFile(join(wasm, entry.name), join(dir, entry.name));
      }
    }
  });
}

if (import.meta.main) await reportBuild("build-web", WEB_DIST, buildWeb);
