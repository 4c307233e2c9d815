// Writing a PATCH body's chunks to an upload's file in order, for
// resumable_uploads.ts: gathered into pieces of 1 MiB, one write at a time,
// and never asking the body to pause (read_body.ts tapBody says why).

/** Bytes gathered before a write. */
const PIECE = 1 << 20;

/**
 * Writes a PATCH body's chunks to `file` in order, gathered into pieces of
 * 1 MiB, one write at a time (a {@linkcode import("../http/read_body.ts").BodySink}).
 */
export class OrderedWriter {
  readonly #file: Deno.FsFile;
  #piece = new Uint8Array(PIECE);
  #filled = 0;
  /** What did not fit while both pieces were in use, in order. */
  #held: Uint8Array[] = [];
  #pending: Promise<void> = Promise.resolve();
  #busy = false;
  #error: unknown = null;
  /** Bytes on disk so far. */
  written = 0;

  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /**
   * Takes a chunk, and never asks the body to pause: what the disk has not
   * taken yet is held in memory. Measured under Deno 2.9.6: a node:http
   * request that is paused for backpressure and then cut off delivers its
   * last chunks with a gap (bytes go missing before others that arrive), so
   * a resumed upload would be corrupt; read without pauses, it is a prefix.
   */
  push(chunk: Uint8Array): boolean {
    if (this.#error) throw this.#error;
    if (this.#held.length > 0) this.#held.push(new Uint8Array(chunk));
    else {
      const rest = this.#copy(chunk);
      if (rest.byteLength > 0) this.#held.push(new Uint8Array(rest));
    }
    if (this.#held.length > 0) {
      this.#draining ??= this.drained().finally(() => this.#draining = null);
    }
    return true;
  }

  #draining: Promise<void> | null = null;

  /** Copies what fits, starting a write of each full piece; returns what did not fit. */
  #copy(chunk: Uint8Array): Uint8Array {
    let rest = chunk;
    while (rest.byteLength > 0) {
      if (this.#filled === PIECE) {
        if (this.#busy) return rest;
        this.#send();
      }
      const take = Math.min(rest.byteLength, PIECE - this.#filled);
      this.#piece.set(rest.subarray(0, take), this.#filled);
      this.#filled += take;
      rest = rest.subarray(take);
    }
    if (this.#filled === PIECE && !this.#busy) this.#send();
    return rest;
  }

  #send(): void {
    const piece = this.#piece.subarray(0, this.#filled);
    this.#piece = new Uint8Array(PIECE);
    this.#filled = 0;
    this.#busy = true;
    this.#pending = this.#pending.then(async () => {
      try {
        let done = 0;
        while (done < piece.byteLength) done += await this.#file.write(piece.subarray(done));
        this.written += piece.byteLength;
      } catch (error) {
        this.#error ??= error;
      } finally {
        this.#busy = false;
      }
    });
  }

  /** Resolves once what was held is taken. */
  async drained(): Promise<void> {
    while (this.#held.length > 0) {
      await this.#pending;
      if (this.#error) throw this.#error;
      const rest = this.#copy(this.#held[0]!);
      if (rest.byteLength > 0) this.#held[0] = rest;
      else this.#held.shift();
    }
  }

  /** Writes everything taken; resolves once it is written. */
  async end(): Promise<void> {
    await this.#draining?.catch(() => {});
    await this.drained();
    await this.#pending;
    if (this.#filled > 0) this.#send();
    await this.#pending;
    if (this.#error) throw this.#error;
  }
}
