// The spool on its own: records that arrive together share a write and an
// fdatasync (group commit), each is readable at the place its commit got,
// a commit that throws refuses only its record, a batch's commits run in one
// transaction, and pruning keeps only the segments still referred to.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Spool, type SpoolRef } from "./spool.ts";

Deno.test("group commit: records arriving together share batches; each reads back where its commit said", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool-" });
  const transactions: number[] = [];
  let open = 0;
  const spool = await Spool.open(dir, {
    transaction: (commits) => {
      open = 0;
      commits();
      transactions.push(open);
    },
  });
  try {
    const records = Array.from(
      { length: 60 },
      (_, i) => Uint8Array.from({ length: 1000 + i }, (_, j) => (i * 7 + j) & 0xff),
    );
    const refs = await Promise.all(records.map((bytes, i) =>
      spool.append(bytes, (ref) => {
        open++;
        if (i === 13) throw new Error("refused");
        return ref;
      }).catch((error) => error as Error)
    ));
    assert.ok(spool.batches < 60, `${spool.batches} batches for 60 records`);
    assert.equal(spool.records, 60);
    assert.equal(transactions.length, spool.batches);
    assert.equal(transactions.reduce((a, b) => a + b, 0), 60);
    refs.forEach((ref, i) => {
      if (i === 13) {
        assert.ok(ref instanceof Error && ref.message === "refused");
        return;
      }
      assert.deepEqual(spool.read(ref as SpoolRef), records[i]);
    });
    // A ref past the segment's end, or to something else, is refused.
    const last = refs[59] as SpoolRef;
    assert.throws(() => spool.read({ ...last, offset: last.offset + 10 }), /ends before/);
    assert.throws(() => spool.read({ ...last, file: "../state.db" }), /not a spool segment/);
  } finally {
    spool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prune keeps the segments still referred to; a new spool starts a new segment", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool-" });
  const first = await Spool.open(dir);
  const a = await first.append(Uint8Array.of(1), (ref) => ref);
  first.close();
  const second = await Spool.open(dir);
  try {
    const b = await second.append(Uint8Array.of(2), (ref) => ref);
    assert.notEqual(a.file, b.file, "a restarted spool never appends to an old segment");
    second.prune(new Set([a.file]));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [a.file]);
    assert.deepEqual(second.read(a), Uint8Array.of(1));
    second.prune();
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    // After a prune the next record goes to a new segment.
    const c = await second.append(Uint8Array.of(3), (ref) => ref);
    assert.deepEqual(second.read(c), Uint8Array.of(3));
    await assert.rejects(
      (async () => {
        second.close();
        await second.append(Uint8Array.of(4), (ref) => ref);
      })(),
      /closed/,
    );
    assert.ok(Deno.statSync(join(dir, c.file)).size === 1);
  } finally {
    second.close();
    await Deno.remove(dir, { recursive: true });
  }
});
