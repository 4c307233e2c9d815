/**
 * Admission through the spool (a run folder): an update's bytes are
 * appended with group commit, off the event loop, and the update is admitted
 * in the batch's transaction once they are on disk, if its round is still
 * open. Updates that stream in are checked as they arrive and folded from
 * their spool record.
 * @module
 */
import { toHex } from "../../shared/hex.ts";
import type { UpdateAccepted } from "../../shared/schemas/mod.ts";
import { ApiError } from "../http/errors.ts";
import type { BytesRef, UpdateRecord } from "../storage/storage.ts";
import type { StreamedUpdate } from "../ingest/update_stream.ts";
import { validateUpdate } from "../ingest/validate_update.ts";
import { admit, checkAsync, checkRound, checkRoundOf, submit } from "./_admission.ts";
import { refused } from "./_clients.ts";
import type { Checked, FederationState } from "./_state.ts";

/** The bytes an update streamed into the spool is admitted with (they are in its record). */
const EMPTY = new Uint8Array(0);

/**
 * POST /v1/updates: `submit`, but with a spool (a run folder) the update's
 * bytes are appended to it with group commit, off the event loop, and the
 * update is stored and answered once they are on disk: updates that arrive
 * while one batch is written share the next. A round that closed meanwhile
 * refuses it (409), as it would have before.
 */
export async function accept(
  s: FederationState,
  bytes: Uint8Array,
  options: { clientId?: string } = {},
): Promise<UpdateAccepted> {
  const storage = s.options.storage;
  if (!storage) return submit(s, bytes, options);
  try {
    // Hashed and validated off the event loop (WebCrypto's digest, the validation worker).
    const digest = toHex(
      new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)),
    );
    const checkedRound = checkRound(s, bytes, options, digest);
    if ("resend" in checkedRound) return checkedRound.resend;
    const validated = s.options.validator
      ? await s.options.validator.validate(bytes, s.trainable, s.validation)
      : { bytes, update: validateUpdate(bytes, s.trainable, s.validation) };
    bytes = validated.bytes;
    const checked: Checked = { ...checkedRound, update: validated.update };
    return await spoolChecked(s, checked, bytes, (commit) => storage.append(bytes, commit));
  } catch (error) {
    throw refused(s, options.clientId, error);
  }
}

/**
 * POST /v1/updates for an update checked as it streamed into `record`
 * (UpdateStreamCheck): checked against the round as {@linkcode accept}
 * does, then committed with the spool's next batch, and folded from the
 * record. The record is aborted when the update is refused or a resend.
 */
export async function acceptStreamed(
  s: FederationState,
  streamed: StreamedUpdate,
  record: UpdateRecord,
  options: { clientId?: string } = {},
): Promise<UpdateAccepted> {
  let committing = false;
  try {
    const checkedRound = checkRoundOf(s, streamed.metadata, options, streamed.digest);
    if ("resend" in checkedRound) {
      record.abort();
      return checkedRound.resend;
    }
    const checked: Checked = {
      ...checkedRound,
      update: {
        metadata: streamed.metadata,
        tensors: [],
        bytes: streamed.bytes,
        norm: streamed.norm,
        clipped: streamed.factor < 1,
        spooled: { regions: streamed.regions, factor: streamed.factor },
      },
    };
    const answer = await spoolChecked(s, checked, EMPTY, (commit) => {
      committing = true;
      return record.commit(commit);
    });
    // A resend of bytes being stored got the first's answer: this copy is not wanted.
    if (!committing) record.abort();
    return answer;
  } catch (error) {
    if (!committing) record.abort();
    throw refused(s, options.clientId, error);
  }
}

/**
 * Stores a checked update through `append` (the spool's group commit) and
 * admits it in the batch's transaction, if its round is still open; a
 * resend of the same bytes while the first are stored gets their answer.
 */
async function spoolChecked(
  s: FederationState,
  checked: Checked,
  bytes: Uint8Array,
  append: (commit: (ref: BytesRef) => UpdateAccepted) => Promise<UpdateAccepted>,
): Promise<UpdateAccepted> {
  const flightKey = `${checked.clientId}:${checked.digest}`;
  const inFlight = s.inFlight.get(checked.key);
  if (inFlight) {
    // The same bytes again while the first are being stored: the same answer.
    if (inFlight.digest === checked.digest) return await inFlight.promise;
    if (!s.async) {
      throw new ApiError(
        409,
        "duplicate_update",
        `Cannot accept update: client "${checked.clientId}" is already sending one for round ${s.round}`,
      );
    }
  }
  const round = s.round;
  const version = s.version;
  const promise = append((ref) => {
    // Still the round it was checked for, and still not there twice.
    const answer = s.answers.get(flightKey);
    if (answer) return JSON.parse(answer) as UpdateAccepted;
    if (
      s.round !== round || s.phase !== "training" ||
      (!s.async && s.version !== version)
    ) {
      throw new ApiError(
        409,
        "stale_update",
        `Cannot accept update: round ${round} closed while it was being stored`,
      );
    }
    if (s.async) checkAsync(s, checked.metadata);
    else if (s.pending.has(checked.key)) {
      throw new ApiError(
        409,
        "duplicate_update",
        `Cannot accept update: client "${checked.clientId}" already sent one for round ${s.round}`,
      );
    }
    return admit(s, checked, bytes, { ...ref, sha256: checked.digest });
  }).catch((error) => {
    if (error instanceof ApiError) throw error;
    // The write failed (or the round's segment went with its close).
    if (s.round !== round) {
      throw new ApiError(409, "stale_update", `Cannot accept update: round ${round} closed`);
    }
    throw error;
  });
  s.inFlight.set(checked.key, { digest: checked.digest, promise });
  try {
    return await promise;
  } finally {
    if (s.inFlight.get(checked.key)?.promise === promise) {
      s.inFlight.delete(checked.key);
    }
  }
}
