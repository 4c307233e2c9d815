/**
 * Checkpoints in tfjs format, written so that none is ever half-written.
 * @module
 */
import { join } from "node:path";
import type { TfjsArtifacts } from "../shared/tfjs_format.ts";

async function writeSynced(path: string, data: Uint8Array): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    let written = 0;
    while (written < data.byteLength) written += await file.write(data.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
}

/**
 * Writes model.json and weights.bin into `dir/name/`: first into a temporary
 * folder beside it, synced, then renamed into place. Returns the model.json path.
 *
 * @example
 * ```ts
 * import { writeCheckpoint } from "./checkpoint.ts";
 * import { toTfjsArtifacts } from "../shared/tfjs_format.ts";
 * const dir = await Deno.makeTempDir();
 * await writeCheckpoint(dir, "round-0001", toTfjsArtifacts({}, new Map()));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeCheckpoint(
  dir: string,
  name: string,
  artifacts: TfjsArtifacts,
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const target = join(dir, name);
  const temporary = await Deno.makeTempDir({ dir, prefix: `.${name}.tmp-` });
  try {
    const json = new TextEncoder().encode(JSON.stringify(artifacts.modelJson));
    await writeSynced(join(temporary, "model.json"), json);
    await writeSynced(join(temporary, "weights.bin"), artifacts.weightsBin);
    await Deno.remove(target, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    await Deno.rename(temporary, target);
  } catch (error) {
    await Deno.remove(temporary, { recursive: true }).catch(() => {});
    throw error;
  }
  return join(target, "model.json");
}
