// The run folder's TaskStorage: group-committed bytes come back checked
// against their SHA-256, a batch's rows are one transaction, and pruning
// keeps exactly the pending updates' files. Real files and a real state.db.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { RunStorage } from "./run_storage.ts";
import { StateStore } from "./state_store.ts";
import type { StoredClient, StoredUpdate, TaskStorage } from "./storage.ts";

const CLIENT: StoredClient = {
  id: "c",
  lastSeen: new Date(0).toISOString(),
  updatesAccepted: 1,
  backend: null,
};

async function withStorage(
  fn: (storage: TaskStorage, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const state = StateStore.open(dir);
  const storage = await RunStorage.open({
    state,
    dir: join(dir, "spool"),
    taskId: "t",
    config: "{}",
  });
  storage.saveInitial({
    round: 1,
    version: 0,
    phase: "training",
    global: new Uint8Array(4),
    metrics: [],
  });
  try {
    await fn(storage, dir);
  } finally {
    storage.close();
    state.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Appends `bytes` and saves them as client `key`'s update, as the federation does. */
function store(storage: TaskStorage, key: string, bytes: Uint8Array): Promise<StoredUpdate> {
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return storage.append(bytes, (ref) => {
    const update = {
      key,
      clientId: key,
      staleness: 0,
      bytes: new Uint8Array(0),
      spool: { ...ref, sha256 },
    };
    storage.saveUpdate(update, { digest: sha256, response: "{}" }, { ...CLIENT, id: key });
    return update;
  });
}

Deno.test("run storage: updates stored together come back, and a changed byte is found", async () => {
  await withStorage(async (storage, dir) => {
    const bodies = Array.from(
      { length: 5 },
      (_, i) => crypto.getRandomValues(new Uint8Array(1000 + i)),
    );
    // Sent at once: they share group commits, and each is saved with its answer.
    const stored = await Promise.all(bodies.map((b, i) => store(storage, `c${i}`, b)));
    const pending = storage.load()!.pending;
    assert.deepEqual(pending.map((p) => p.key).sort(), stored.map((s) => s.key).sort());
    for (const [i, p] of pending.entries()) {
      assert.deepEqual(storage.bytesOf(p), bodies[Number(p.key.slice(1))], `update ${i}`);
    }
    // One byte changed on disk: reading it back refuses it.
    const victim = pending[2]!;
    const path = join(dir, "spool", victim.spool!.file);
    const file = await Deno.readFile(path);
    file[victim.spool!.offset] = file[victim.spool!.offset]! ^ 1;
    await Deno.writeFile(path, file);
    assert.throws(() => storage.bytesOf(victim), /do not match their SHA-256/);
  });
});

Deno.test("run storage: a commit that throws stores none of its update, and the others stay", async () => {
  await withStorage(async (storage) => {
    const good = store(storage, "good", Uint8Array.of(1, 2, 3));
    const bad = storage.append(Uint8Array.of(4, 5, 6), () => {
      throw new Error("refused after the write");
    });
    await assert.rejects(bad, /refused after the write/);
    await good;
    assert.deepEqual(storage.load()!.pending.map((p) => p.key), ["good"]);
  });
});

Deno.test("run storage: prune keeps the files of the updates named and removes the rest", async () => {
  await withStorage(async (storage, dir) => {
    const first = await store(storage, "a", Uint8Array.of(1));
    // A streamed record: a file of its own.
    const record = storage.record();
    record.write(Uint8Array.of(9, 9));
    const streamed = await record.commit((ref) => ref);
    const files = () => [...Deno.readDirSync(join(dir, "spool"))].map((e) => e.name).sort();
    assert.equal(files().length, 2);
    storage.prune([first]);
    assert.deepEqual(files(), [first.spool!.file]);
    assert.ok(!files().includes(streamed.file));
    assert.deepEqual(storage.bytesOf(first), Uint8Array.of(1));
    storage.prune();
    assert.deepEqual(files(), []);
  });
});
