// A spool record written as its bytes stream in (spool.ts Spool.record), and
// where a record's bytes are (SpoolRef). Kept apart from the spool's group
// commit; spool.ts re-exports both.

import type { BytesRef, UpdateRecord } from "./storage.ts";

/** The largest single write (measured: 4 MB in 1 MiB writes takes a third of one 4 MB write). */
export const WRITE_PIECE = 1 << 20;

/** Where a record's bytes are in the spool. */
export type SpoolRef = BytesRef;

/**
 * A spool record whose bytes are written as they stream in (from
 * {@linkcode Spool.record}). Chunks are gathered into pieces of 1 MiB, each
 * written asynchronously while the next fills; at most two are held, so a
 * record costs 2 MiB of memory whatever its size.
 */
export class SpoolRecord implements UpdateRecord {
  readonly #path: string;
  readonly #name: string;
  readonly #spool: {
    commit: <T>(record: SpoolRecord, commit: (ref: SpoolRef) => T) => Promise<T>;
    done: () => void;
  };
  #file: Promise<Deno.FsFile> | null = null;
  #piece: Uint8Array = new Uint8Array(WRITE_PIECE);
  #spare: Uint8Array | null = null;
  #filled = 0;
  #length = 0;
  /** The writes so far, one after another; the first error, if any. */
  #chain: Promise<void> = Promise.resolve();
  #writing = 0;
  #error: unknown = null;
  #ended = false;

  /** @internal Made by {@linkcode Spool.record}. */
  constructor(
    path: string,
    name: string,
    spool: {
      commit: <T>(record: SpoolRecord, commit: (ref: SpoolRef) => T) => Promise<T>;
      done: () => void;
    },
  ) {
    this.#path = path;
    this.#name = name;
    this.#spool = spool;
  }

  /** Where the record is, once all its bytes are written. */
  get ref(): SpoolRef {
    return { file: this.#name, offset: 0, length: this.#length };
  }

  /** Bytes taken so far. */
  get length(): number {
    return this.#length;
  }

  /**
   * Takes the next chunk (copied: the caller may reuse it). Returns false
   * when two pieces are being written: wait for {@linkcode drained} before
   * the next.
   */
  write(chunk: Uint8Array): boolean {
    if (this.#ended) throw new Error("The record is committed or aborted");
    let rest = chunk;
    while (rest.byteLength > 0) {
      const take = Math.min(rest.byteLength, WRITE_PIECE - this.#filled);
      this.#piece.set(rest.subarray(0, take), this.#filled);
      this.#filled += take;
      this.#length += take;
      rest = rest.subarray(take);
      if (this.#filled === WRITE_PIECE) this.#send();
    }
    return this.#writing < 2;
  }

  /** Resolves once at most one piece is being written (or rejects with a write's error). */
  async drained(): Promise<void> {
    while (this.#writing >= 2) await this.#writes[0];
    if (this.#error) throw this.#error;
  }

  /** The writes not yet done, oldest first. */
  #writes: Promise<void>[] = [];

  /** Writes the filled piece (asynchronously) and starts the next. */
  #send(): void {
    const piece = this.#piece.subarray(0, this.#filled);
    const whole = this.#piece;
    this.#piece = this.#spare ?? new Uint8Array(WRITE_PIECE);
    this.#spare = null;
    this.#filled = 0;
    this.#writing++;
    this.#file ??= Deno.open(this.#path, { write: true, createNew: true });
    const file = this.#file;
    const previous = this.#chain;
    this.#chain = (async () => {
      await previous;
      try {
        if (this.#error) return;
        const f = await file;
        let written = 0;
        while (written < piece.byteLength) written += await f.write(piece.subarray(written));
      } catch (error) {
        this.#error ??= error;
      } finally {
        this.#writing--;
        this.#spare = whole;
        this.#writes.shift();
      }
    })();
    this.#writes.push(this.#chain);
  }

  /**
   * Writes what is left, then commits the record with the spool's next
   * batch: resolves with what `commit` returns once the record is synced and
   * `commit` ran in the batch's transaction; rejects (and removes the file)
   * if a write failed or `commit` threw.
   */
  async commit<T>(commit: (ref: SpoolRef) => T): Promise<T> {
    if (this.#ended) throw new Error("The record is committed or aborted");
    this.#ended = true;
    if (this.#filled > 0 || !this.#file) this.#send();
    await this.#chain;
    if (this.#error) {
      this.discard();
      throw this.#error;
    }
    return await this.#spool.commit(this, commit);
  }

  /** Syncs the record's file (by the spool's batch). */
  async sync(): Promise<void> {
    await (await this.#file!).syncData();
  }

  /** Gives the record up: its file is closed and removed. */
  abort(): void {
    this.#ended = true;
    this.discard();
  }

  /** @internal Closes the file (the record is committed). */
  close(): void {
    this.#spool.done();
    this.#file?.then((f) => f.close(), () => {}).catch(() => {});
  }

  /** @internal Closes and removes the file (nothing refers to it). */
  discard(): void {
    this.#spool.done();
    const file = this.#file;
    this.#file = null;
    const path = this.#path;
    // After the pending writes: the file is removed once nothing writes to it.
    this.#chain.then(async () => {
      try {
        (await file)?.close();
      } catch {
        // not opened, or already closed
      }
      await Deno.remove(path).catch(() => {});
    });
  }
}
