/**
 * Admission of a plain update into the open round: the sender, the round,
 * the resend, the draw and the contents are checked, then it is stored
 * (durably, before it is answered) and folded. A refused update changes
 * nothing but the sender's refusal count.
 * @module
 */
import { createHash } from "node:crypto";
import type { UpdateAccepted, UpdateMetadata } from "../../shared/schemas/mod.ts";
import { ApiError } from "../http/errors.ts";
import { storedClient } from "./_round/parts.ts";
import type { StoredUpdate } from "../storage/storage.ts";
import { readUpdateMetadata, validateUpdate } from "../ingest/validate_update.ts";
import { acceptedRecord, refused, seen } from "./_clients.ts";
import { maybeClose, refuseWhenHalted } from "./_lifecycle.ts";
import { keepUpdateFile } from "./_round/outputs.ts";
import { hold } from "./_round/sum.ts";
import { checkSelected, checkStarted } from "./_selection.ts";
import type { Checked, FederationState, PendingUpdate } from "./_state.ts";

/**
 * Validates one update and stores it in the open round (durably, with a
 * store, before it returns). `clientId`: the authenticated sender, which the
 * update's metadata may only repeat. A resend of an accepted update gets
 * the first answer again. Throws ApiError: 409 when stale or a different
 * second one from the same client, 400 when invalid, 403 when sent for
 * another client. A rejected update changes nothing.
 */
export function submit(
  s: FederationState,
  bytes: Uint8Array,
  options: { clientId?: string } = {},
): UpdateAccepted {
  try {
    const checked = check(s, bytes, options);
    if ("resend" in checked) return checked.resend;
    return admit(s, checked, bytes, null);
  } catch (error) {
    throw refused(s, options.clientId, error);
  }
}

/** Checks an update against the open round; a resend of an accepted one gets its first answer. */
export function check(
  s: FederationState,
  bytes: Uint8Array,
  options: { clientId?: string },
): Checked | { resend: UpdateAccepted } {
  const checked = checkRound(s, bytes, options, createHash("sha256").update(bytes).digest("hex"));
  if ("resend" in checked) return checked;
  return { ...checked, update: validateUpdate(bytes, s.trainable, s.validation) };
}

/** {@linkcode check} but the update's contents: its sender, the round, the resend, the draw. */
export function checkRound(
  s: FederationState,
  bytes: Uint8Array,
  options: { clientId?: string },
  digest: string,
): Omit<Checked, "update"> | { resend: UpdateAccepted } {
  return checkRoundOf(s, readUpdateMetadata(bytes), options, digest);
}

/** {@linkcode checkRound} once the update's metadata is read. */
export function checkRoundOf(
  s: FederationState,
  metadata: UpdateMetadata,
  options: { clientId?: string },
  digest: string,
): Omit<Checked, "update"> | { resend: UpdateAccepted } {
  // An authenticated sender submits as itself only.
  if (options.clientId !== undefined) {
    if (metadata.clientId !== undefined && metadata.clientId !== options.clientId) {
      throw new ApiError(
        403,
        "forbidden",
        `Client "${options.clientId}" cannot submit as "${metadata.clientId}"`,
      );
    }
    metadata.clientId = options.clientId;
  }
  refuseWhenHalted(s, "accept update");
  checkVocabularyOf(s, metadata);
  if (s.secureParams) {
    throw new ApiError(
      400,
      "secure_aggregation_required",
      `Cannot accept update: task "${s.task.id}" uses secure aggregation, so the coordinator takes masked inputs only (/v1/secagg); the plain update was not stored`,
    );
  }
  // Without an id, the update's digest names its sender, so a resend is still recognised.
  const clientId = metadata.clientId ?? `anonymous-${digest.slice(0, 16)}`;
  // A resend of an accepted update is answered as the first time.
  const answer = s.answers.get(`${clientId}:${digest}`);
  if (answer) return { resend: JSON.parse(answer) as UpdateAccepted };
  // The sender counts towards minAvailable, but is only recorded once its
  // update is accepted: a refused update changes nothing.
  checkStarted(s, clientId, "accept update");
  const staleness = s.async ? checkAsync(s, metadata) : checkSync(s, metadata, clientId);
  if (metadata.clientId) checkSelected(s, clientId);
  // Async: a client may have several updates in a buffer, told apart by their bytes.
  const key = s.async ? `${clientId}#${digest.slice(0, 32)}` : clientId;
  return { metadata, clientId, digest, key, staleness };
}

/**
 * A sequence task's update must be tokenized with the task's vocabulary:
 * rows encoded with another one would train the wrong embeddings.
 */
export function checkVocabularyOf(
  s: FederationState,
  metadata: Pick<UpdateMetadata, "vocabulary">,
): void {
  const vocabulary = s.task.input.sequence?.vocabulary;
  if (!vocabulary) return;
  if (metadata.vocabulary === undefined) {
    throw new ApiError(
      400,
      "vocabulary_mismatch",
      `Cannot accept update: task "${s.task.id}" is over token sequences, and the update does not say which vocabulary its rows were tokenized with (metadata "vocabulary"; the task's is ${vocabulary.hash})`,
    );
  }
  if (metadata.vocabulary !== vocabulary.hash) {
    throw new ApiError(
      400,
      "vocabulary_mismatch",
      `Cannot accept update: its rows were tokenized with vocabulary ${metadata.vocabulary}, the task's is ${vocabulary.hash}; fetch /v1/task again and tokenize with its vocabulary`,
    );
  }
}

/**
 * Stores a checked update (its bytes in the state, or at `spool` in the
 * spool) and folds it into the open round; durable before it returns.
 */
export function admit(
  s: FederationState,
  checked: Checked,
  bytes: Uint8Array,
  spool: StoredUpdate["spool"] | null,
): UpdateAccepted {
  const { metadata, clientId, digest, key, update, staleness } = checked;
  const accepted: UpdateAccepted = {
    accepted: true,
    round: s.round,
    received: s.pending.size + 1,
    targetClients: s.task.rounds.targetClients,
  };
  const known = s.clients.get(clientId);
  const client = acceptedRecord(known, clientId, metadata);
  const response = JSON.stringify(accepted);
  // Durable before it is answered; if storing fails, nothing has changed.
  const stored: StoredUpdate = spool
    ? { key, clientId, staleness, bytes: new Uint8Array(0), spool }
    : { key, clientId, staleness, bytes };
  s.options.storage?.saveUpdate(
    stored,
    { digest, response },
    storedClient(client),
  );
  s.answers.set(`${clientId}:${digest}`, response);
  // Streamed in: its values are read back from its spool record when folded.
  const { spooled, ...values } = update;
  const held: PendingUpdate["update"] = spooled && spool
    ? { ...values, spooled: { ...spooled, ref: spool } }
    : values;
  keepUpdateFile(s, s.round, `${key.replace(/[^A-Za-z0-9._-]/g, "_")}.safetensors`, () => {
    if (!held.spooled || !s.options.storage) return bytes;
    const ref = { ...held.spooled.ref, sha256: digest };
    return s.options.storage.bytesOf({ ...stored, spool: ref });
  });
  hold(s, key, { clientId, update: held, staleness });
  s.participants.add(clientId);
  s.failed.delete(clientId);
  Object.assign(seen(s, clientId), client);
  maybeClose(s);
  return accepted;
}

/** Sync: the update is for the open round and its version, and the client's first. */
export function checkSync(s: FederationState, metadata: UpdateMetadata, clientId: string): number {
  if (metadata.round > s.round) {
    throw new ApiError(
      400,
      "invalid_update",
      `Cannot accept update: round ${metadata.round} has not opened`,
    );
  }
  if (metadata.round < s.round || s.phase !== "training") {
    throw new ApiError(
      409,
      "stale_update",
      `Cannot accept update: round ${metadata.round} is closed`,
    );
  }
  if (metadata.baseVersion !== s.version) {
    throw new ApiError(
      409,
      "stale_update",
      `Cannot accept update: base version ${metadata.baseVersion} is not the current version ${s.version}`,
    );
  }
  if (s.pending.has(clientId)) {
    throw new ApiError(
      409,
      "duplicate_update",
      `Cannot accept update: client "${clientId}" already sent one for round ${s.round}`,
    );
  }
  return 0;
}

/** Async: the update's base is a version this coordinator issued, at most maxStaleness old. */
export function checkAsync(s: FederationState, metadata: UpdateMetadata): number {
  if (s.phase !== "training") {
    throw new ApiError(
      409,
      "stale_update",
      `Cannot accept update: the coordinator is ${s.phase}`,
    );
  }
  if (metadata.baseVersion > s.version) {
    throw new ApiError(
      400,
      "invalid_update",
      `Cannot accept update: base version ${metadata.baseVersion} has not been issued (current ${s.version})`,
    );
  }
  const staleness = s.version - metadata.baseVersion;
  const { maxStaleness } = s.task.rounds;
  if (staleness > maxStaleness) {
    throw new ApiError(
      409,
      "stale_update",
      `Cannot accept update: base version ${metadata.baseVersion} is ${staleness} versions behind the current version ${s.version} (maxStaleness ${maxStaleness})`,
    );
  }
  return staleness;
}

/**
 * A client reports that it could not train in `round` (an error, no data,
 * the user left). Recorded as a failure of the open round; 409 for a round
 * that is not open.
 */
export function reportFailure(
  s: FederationState,
  report: { clientId: string; round: number; reason: string },
): { round: number } {
  const roundOpen = s.async ? report.round <= s.round : report.round === s.round;
  if (!roundOpen || s.phase !== "training") {
    throw new ApiError(
      409,
      "stale_update",
      `Cannot record failure: round ${report.round} is not open (the open round is ${s.round}, ${s.phase})`,
    );
  }
  if (!s.async && s.pending.has(report.clientId)) {
    throw new ApiError(
      409,
      "duplicate_update",
      `Cannot record failure: client "${report.clientId}" already sent an update for round ${s.round}`,
    );
  }
  s.failed.set(report.clientId, report.reason);
  s.participants.add(report.clientId);
  seen(s, report.clientId);
  // A Poisson-sampled round may now have heard from every client drawn.
  if (s.privacy) maybeClose(s);
  return { round: s.round };
}
