/**
 * Checkpoints in tfjs format, written so that none is ever half-written.
 * @module
 */
import { basename, dirname, join } from "node:path";
import type { TfjsArtifacts } from "../../shared/model/tfjs_format.ts";
import { maybeCrash } from "./fault.ts";

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

/** Makes a rename in `dir` durable (where the platform allows syncing a folder). */
async function syncDir(dir: string): Promise<void> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(dir, { read: true });
    await file.sync();
  } catch {
    // Not every platform can sync a folder; the rename itself is atomic.
  } finally {
    file?.close();
  }
}

/**
 * Removes the temporary folders of checkpoints that a crash left unfinished
 * in `dir` (never a finished checkpoint).
 *
 * @example
 * ```ts
 * import { removeUnfinishedCheckpoints } from "./checkpoint.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/.round-0001.tmp-abc`);
 * await removeUnfinishedCheckpoints(dir);
 * await Deno.remove(dir);
 * ```
 */
export async function removeUnfinishedCheckpoints(dir: string): Promise<void> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory && /^\..+\.tmp-/.test(entry.name)) {
        await Deno.remove(join(dir, entry.name), { recursive: true });
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** What a checkpoint holds. */
export interface CheckpointContent {
  /** model.json and weights.bin. @default none (only the extra files) */
  artifacts?: TfjsArtifacts;
  /** More files by name, e.g. `model.safetensors`. @default none */
  extra?: Record<string, Uint8Array>;
}

/**
 * Writes a checkpoint folder `target` (model.json, weights.bin and any extra
 * files, or the extra files alone): first into a temporary folder beside it, each file synced, then
 * renamed into place, so a checkpoint is never half-written. Returns the
 * model.json path.
 *
 * @example
 * ```ts
 * import { writeCheckpoint } from "./checkpoint.ts";
 * import { toTfjsArtifacts } from "../../shared/model/tfjs_format.ts";
 * const dir = await Deno.makeTempDir();
 * await writeCheckpoint(`${dir}/round-0001`, { artifacts: toTfjsArtifacts({}, new Map()) });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeCheckpoint(target: string, content: CheckpointContent): Promise<string> {
  const dir = dirname(target);
  await Deno.mkdir(dir, { recursive: true });
  const temporary = await Deno.makeTempDir({ dir, prefix: `.${basename(target)}.tmp-` });
  try {
    if (content.artifacts) {
      const json = new TextEncoder().encode(JSON.stringify(content.artifacts.modelJson));
      await writeSynced(join(temporary, "model.json"), json);
      maybeCrash("CHECKPOINT");
      await writeSynced(join(temporary, "weights.bin"), content.artifacts.weightsBin);
    }
    for (const [file, bytes] of Object.entries(content.extra ?? {})) {
      await writeSynced(join(temporary, file), bytes);
    }
    await Deno.remove(target, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    await Deno.rename(temporary, target);
    await syncDir(dir);
  } catch (error) {
    await Deno.remove(temporary, { recursive: true }).catch(() => {});
    throw error;
  }
  return join(target, "model.json");
}
