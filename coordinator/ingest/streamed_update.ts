// POST /v1/updates for a task that streams updates (Federation.streamsUpdates):
// the body's chunks are checked (UpdateStreamCheck) and written to a spool
// record (SpoolRecord) as they arrive, then the federation accepts the
// checked update from the record. A refused or cut-off body leaves nothing.
import type { IncomingMessage } from "node:http";
import type { UpdateAccepted } from "../../shared/schemas/mod.ts";
import type { Federation } from "../federation/federation.ts";
import { ApiError } from "../http/errors.ts";
import { streamBody } from "../http/read_body.ts";
import { UpdateStreamCheck } from "./update_stream.ts";

/** The piece a finished upload's file is read in. */
const FILE_PIECE = 1 << 20;

/**
 * Reads, checks and spools an update from `source` (a request's stream, or
 * the file of a finished resumable upload), then has `federation` accept it.
 */
export async function takeStreamedUpdate(
  federation: Federation,
  source: IncomingMessage | { file: string },
  options: { clientId?: string; timeoutMs: number; received?: (bytes: number) => void },
): Promise<UpdateAccepted> {
  const check = new UpdateStreamCheck(federation.trainable, federation.validation);
  const record = federation.spoolRecord();
  try {
    const sink = {
      push: (chunk: Uint8Array) => {
        check.push(chunk);
        return record.write(chunk);
      },
      drained: () => record.drained(),
    };
    const bytes = "file" in source
      ? await streamFile(source.file, federation.maxUpdateBytes(), sink)
      : await streamBody(source, {
        maxBytes: federation.maxUpdateBytes(),
        timeoutMs: options.timeoutMs,
        sink,
      });
    options.received?.(bytes);
    const streamed = check.finish();
    return await federation.acceptStreamed(streamed, record, { clientId: options.clientId });
  } catch (error) {
    // acceptStreamed aborts the record itself; aborting twice is harmless.
    record.abort();
    throw error;
  }
}

/** Feeds a file to `sink` piece by piece; resolves with its size. */
async function streamFile(
  path: string,
  maxBytes: number,
  sink: { push: (chunk: Uint8Array) => boolean; drained: () => Promise<void> },
): Promise<number> {
  using file = await Deno.open(path, { read: true });
  const piece = new Uint8Array(FILE_PIECE);
  let total = 0;
  for (;;) {
    const n = await file.read(piece);
    if (n === null) return total;
    total += n;
    if (total > maxBytes) {
      throw new ApiError(
        413,
        "payload_too_large",
        `Cannot accept update: body exceeds ${maxBytes} bytes`,
      );
    }
    if (!sink.push(piece.subarray(0, n))) await sink.drained();
  }
}
