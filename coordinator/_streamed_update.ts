// POST /v1/updates for a task that streams updates (Federation.streamsUpdates):
// the body's chunks are checked (UpdateStreamCheck) and written to a spool
// record (SpoolRecord) as they arrive, then the federation accepts the
// checked update from the record. A refused or cut-off body leaves nothing.
import type { IncomingMessage } from "node:http";
import type { UpdateAccepted } from "../shared/schemas.ts";
import type { Federation } from "./federation.ts";
import { streamBody } from "./limits.ts";
import { UpdateStreamCheck } from "./update_stream.ts";

/** Reads, checks and spools an update from `incoming`, then has `federation` accept it. */
export async function takeStreamedUpdate(
  federation: Federation,
  incoming: IncomingMessage,
  options: { clientId?: string; timeoutMs: number; received?: (bytes: number) => void },
): Promise<UpdateAccepted> {
  const check = new UpdateStreamCheck(federation.trainable, federation.validation);
  const record = federation.spoolRecord();
  try {
    const bytes = await streamBody(incoming, {
      maxBytes: federation.maxUpdateBytes(),
      timeoutMs: options.timeoutMs,
      sink: {
        push: (chunk) => {
          check.push(chunk);
          return record.write(chunk);
        },
        drained: () => record.drained(),
      },
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
