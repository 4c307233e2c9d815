/**
 * The durable spool of accepted updates: their bytes appended to segment
 * files in the run folder, with group commit. Records that arrive while a
 * write and `fdatasync` run share the next one; once a batch is on disk, each
 * record's `commit` runs (the caller stores its metadata and answers), all of
 * the batch in one transaction of the caller's. The writes and the sync are
 * asynchronous file I/O, so the event loop keeps serving meanwhile.
 *
 * A record can also be written while its bytes stream in
 * ({@linkcode Spool.record}): into a file of its own, in pieces of 1 MiB, and
 * then committed with the next batch (its file synced with the batch's).
 *
 * A segment is only ever appended to by the process that created it; a
 * restarted coordinator starts a new one, and segments and record files no
 * stored record refers to are removed.
 * @module
 */
import { join } from "node:path";
import { maybeCrash } from "./fault.ts";
import { SpoolRecord, type SpoolRef, WRITE_PIECE } from "./_spool_record.ts";

export { SpoolRecord };
export type { SpoolRef };

/** Options of {@linkcode Spool.open}. */
export interface SpoolOptions {
  /** Runs a batch's commits together (e.g. in one SQLite transaction). @default each on its own */
  transaction?: (commits: () => void) => void;
}

interface Pending<T> {
  /** The bytes to append to the segment, or the streamed record (already written) to sync. */
  bytes: Uint8Array | SpoolRecord;
  commit: (ref: SpoolRef) => T;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

/**
 * An append-only spool with group commit.
 *
 * @example
 * ```ts
 * import { Spool } from "./spool.ts";
 * import assert from "node:assert/strict";
 * const spool = await Spool.open(await Deno.makeTempDir());
 * const ref = await spool.append(Uint8Array.of(1, 2, 3), (ref) => ref);
 * assert.deepEqual(spool.read(ref), Uint8Array.of(1, 2, 3));
 * spool.close();
 * ```
 */
export class Spool {
  readonly dir: string;
  readonly #transaction: (commits: () => void) => void;
  #file: Deno.FsFile | null = null;
  /** Segments rotated out while a batch was being written to them: closed once it is done. */
  #retired: Deno.FsFile[] = [];
  #name = "";
  #offset = 0;
  #queue: Pending<unknown>[] = [];
  /** Whether a flush loop runs (it takes whatever is queued until the queue is empty). */
  #flushing = false;
  #closed = false;
  /** Streamed records not yet committed or aborted, by file name. */
  #open = new Set<string>();
  /** Batches written and synced so far, and records in them (for benchmarks). */
  batches = 0;
  records = 0;

  private constructor(dir: string, options: SpoolOptions) {
    this.dir = dir;
    this.#transaction = options.transaction ?? ((commits) => commits());
  }

  /** Opens (or creates) the spool folder `dir`. */
  static async open(dir: string, options: SpoolOptions = {}): Promise<Spool> {
    await Deno.mkdir(dir, { recursive: true });
    return new Spool(dir, options);
  }

  /**
   * Appends `bytes` durably and then runs `commit` with where they are (in
   * the batch's transaction); resolves with what `commit` returns, or rejects
   * with what it throws (the bytes then stay unreferenced, and are removed
   * with their segment). A failed write or sync rejects the whole batch.
   */
  append<T>(bytes: Uint8Array, commit: (ref: SpoolRef) => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("The spool is closed"));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ bytes, commit, resolve, reject } as Pending<unknown>);
      if (!this.#flushing) {
        this.#flushing = true;
        this.#flush();
      }
    });
  }

  async #flush(): Promise<void> {
    for (;;) {
      // Seen empty and cleared with no await between: a later append starts a new loop.
      if (this.#queue.length === 0) {
        this.#flushing = false;
        this.#closeRetired();
        return;
      }
      const batch = this.#queue.splice(0);
      let refs: SpoolRef[];
      try {
        const appended = await this.#write(
          batch.flatMap((p) => (p.bytes instanceof Uint8Array ? [p.bytes] : [])),
        );
        const records = batch.flatMap((p) => (p.bytes instanceof SpoolRecord ? [p.bytes] : []));
        // The crash test kills here: written, not yet synced, no one answered.
        maybeCrash("SPOOL_SYNC");
        await Promise.all(records.map((r) => r.sync()));
        refs = batch.map((p) => p.bytes instanceof SpoolRecord ? p.bytes.ref : appended.shift()!);
      } catch (error) {
        // Nothing of the batch is known to be on disk: a new segment for the next.
        this.#rotate();
        for (const p of batch) {
          if (p.bytes instanceof SpoolRecord) p.bytes.discard();
          p.reject(error);
        }
        continue;
      }
      this.batches++;
      this.records += batch.length;
      const settle: (() => void)[] = [];
      const refused = new Set<Pending<unknown>>();
      try {
        this.#transaction(() => {
          batch.forEach((p, i) => {
            try {
              const value = p.commit(refs[i]!);
              settle.push(() => p.resolve(value));
            } catch (error) {
              refused.add(p);
              settle.push(() => p.reject(error));
            }
          });
        });
      } catch (error) {
        // The transaction itself failed: nothing of the batch was committed.
        for (const p of batch) {
          if (p.bytes instanceof SpoolRecord) p.bytes.discard();
          p.reject(error);
        }
        continue;
      }
      // A refused streamed record is referred to by nothing: its file goes now.
      for (const p of batch) {
        if (p.bytes instanceof SpoolRecord) {
          if (refused.has(p)) p.bytes.discard();
          else p.bytes.close();
        }
      }
      for (const s of settle) s();
    }
  }

  #closeRetired(): void {
    for (const file of this.#retired.splice(0)) {
      try {
        file.close();
      } catch {
        // already closed
      }
    }
  }

  /** Writes `records` at the end of the current segment and syncs it. */
  async #write(records: Uint8Array[]): Promise<SpoolRef[]> {
    if (!this.#file) {
      this.#name = `segment-${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}.bin`;
      this.#file = await Deno.open(join(this.dir, this.#name), {
        write: true,
        createNew: true,
      });
      this.#offset = 0;
    }
    const file = this.#file;
    const refs: SpoolRef[] = [];
    for (const bytes of records) {
      let written = 0;
      // In pieces of 1 MiB: one large write is several times slower here.
      while (written < bytes.length) {
        written += await file.write(bytes.subarray(written, written + WRITE_PIECE));
      }
      refs.push({ file: this.#name, offset: this.#offset, length: bytes.length });
      this.#offset += bytes.length;
    }
    await file.syncData();
    return refs;
  }

  /** The bytes of a record (a restart reads the open round's updates back). */
  read(ref: SpoolRef): Uint8Array {
    if (!SPOOL_FILE.test(ref.file)) {
      throw new RangeError(`"${ref.file}" is not a spool segment or record`);
    }
    const file = Deno.openSync(join(this.dir, ref.file), { read: true });
    try {
      file.seekSync(ref.offset, Deno.SeekMode.Start);
      const out = new Uint8Array(ref.length);
      let read = 0;
      while (read < ref.length) {
        const n = file.readSync(out.subarray(read));
        if (n === null) {
          throw new RangeError(
            `Spool segment "${ref.file}" ends before ${ref.offset + ref.length}`,
          );
        }
        read += n;
      }
      return out;
    } finally {
      file.close();
    }
  }

  /**
   * Reads `ranges` (byte offsets within the record, each tagged with a
   * tensor) of a record piece by piece, into one buffer reused for every
   * piece (`buffer`, whose size is the piece's): each piece is only valid
   * until the next is read.
   */
  *pieces(
    ref: SpoolRef,
    ranges: readonly { tensor: number; begin: number; end: number }[],
    buffer: Uint8Array,
  ): Generator<{ tensor: number; start: number; bytes: Uint8Array }> {
    const size = buffer.byteLength & ~3;
    if (!SPOOL_FILE.test(ref.file)) {
      throw new RangeError(`"${ref.file}" is not a spool segment or record`);
    }
    const file = Deno.openSync(join(this.dir, ref.file), { read: true });
    try {
      for (const { tensor, begin, end } of ranges) {
        if (begin < 0 || end > ref.length || begin > end) {
          throw new RangeError(`Bytes ${begin}-${end} are outside the record of ${ref.length}`);
        }
        for (let at = begin; at < end; at += size) {
          const piece = buffer.subarray(0, Math.min(size, end - at));
          file.seekSync(ref.offset + at, Deno.SeekMode.Start);
          let read = 0;
          while (read < piece.byteLength) {
            const n = file.readSync(piece.subarray(read));
            if (n === null) throw new RangeError(`Spool file "${ref.file}" ends early`);
            read += n;
          }
          yield { tensor, start: (at - begin) / 4, bytes: piece };
        }
      }
    } finally {
      file.close();
    }
  }

  /** Later appends go to a new segment (this one is left as it is). */
  #rotate(): void {
    if (this.#file) this.#retired.push(this.#file);
    this.#file = null;
    if (!this.#flushing) this.#closeRetired();
  }

  /**
   * Removes every segment but those in `keep` (the records still referred
   * to); the current one is rotated first, so it may go too.
   */
  prune(keep: ReadonlySet<string> = new Set()): void {
    this.#rotate();
    for (const entry of Deno.readDirSync(this.dir)) {
      // Records still being written are kept (they are not committed yet).
      if (
        entry.isFile && SPOOL_FILE.test(entry.name) && !keep.has(entry.name) &&
        !this.#open.has(entry.name)
      ) {
        Deno.removeSync(join(this.dir, entry.name));
      }
    }
  }

  /**
   * A record written as its bytes stream in, to a file of its own:
   * {@linkcode SpoolRecord.write} each chunk, then
   * {@linkcode SpoolRecord.commit} (durable with the next batch) or
   * {@linkcode SpoolRecord.abort}.
   */
  record(): SpoolRecord {
    if (this.#closed) throw new Error("The spool is closed");
    const name = `record-${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}.bin`;
    this.#open.add(name);
    return new SpoolRecord(join(this.dir, name), name, {
      commit: <T>(record: SpoolRecord, commit: (ref: SpoolRef) => T) => {
        if (this.#closed) return Promise.reject(new Error("The spool is closed"));
        return new Promise<T>((resolve, reject) => {
          this.#queue.push({ bytes: record, commit, resolve, reject } as Pending<unknown>);
          if (!this.#flushing) {
            this.#flushing = true;
            this.#flush();
          }
        });
      },
      done: () => this.#open.delete(name),
    });
  }

  /** Closes the current segment; queued records are refused. */
  close(): void {
    this.#closed = true;
    this.#rotate();
    for (const p of this.#queue.splice(0)) {
      if (p.bytes instanceof SpoolRecord) p.bytes.discard();
      p.reject(new Error("The spool is closed"));
    }
  }
}

/** The names of spool files: segments and streamed records. */
const SPOOL_FILE = /^(segment|record)-[a-z0-9]+-[0-9a-f]{8}\.bin$/;
