/**
 * Builds the Node.js client: `client/main.ts` (the same CLI, trainer and
 * backend choice as the Deno client) bundled into `client/node/dist/client.mjs`
 * for `node` >= 20. tfjs and the MNIST digits stay outside the bundle, as the
 * packages of `client/node/package.json`, so that `@tensorflow/tfjs-node-gpu`,
 * installed beside them, registers its backend with the same tfjs.
 *
 * `deno task build-node`, then `node client/node/dist/client.mjs --help`.
 * Inside this repository the packages resolve from its `node_modules`;
 * elsewhere, copy `client/node` and run `npm install` in it.
 * @module
 */
import { fileURLToPath } from "node:url";
import { buildInto, bundle, join, reportBuild } from "../_bundle.ts";

/** Where the built client goes. */
export const NODE_DIST = fileURLToPath(new URL("./dist/", import.meta.url));

const entry = fileURLToPath(new URL("../main.ts", import.meta.url));

/** Packages left to Node.js to resolve. */
const EXTERNAL = ["@tensorflow/*", "mnist/*", "webgpu"];

/**
 * Builds the Node.js client into `outDir` and returns the files.
 *
 * @example
 * ```ts ignore
 * import { buildNode } from "./build.ts";
 * await buildNode();
 * ```
 */
export async function buildNode(outDir: string = NODE_DIST): Promise<string[]> {
  return await buildInto(outDir, async (dir) => {
    await bundle(entry, join(dir, "client.mjs"), [
      "--platform",
      "deno",
      ...EXTERNAL.flatMap((name) => ["--external", name]),
    ]);
  });
}

if (import.meta.main) await reportBuild("build-node", NODE_DIST, buildNode);
