/**
 * Client records: who has shown up, what each sent and had refused, as kept
 * in the state, in storage and in the status.
 * @module
 */
import type { Status, UpdateMetadata } from "../../shared/schemas/mod.ts";
import { ApiError } from "../http/errors.ts";
import type { StoredTask } from "../storage/storage.ts";
import { type ClientRecord, storedClient } from "./_round/parts.ts";
import { armDeadline } from "./_lifecycle.ts";
import type { FederationState } from "./_state.ts";

/**
 * Records that `clientId` was heard from (created on its first call, and
 * stored); the client that completes `rounds.minAvailable` starts the open
 * round's deadline.
 */
export function seen(s: FederationState, clientId: string): ClientRecord {
  const client = s.clients.get(clientId) ??
    {
      id: clientId,
      lastSeen: new Date(),
      updatesAccepted: 0,
      backend: null,
      device: null,
      runtime: null,
      updatesRejected: 0,
      lastRejection: null,
      numLabeled: null,
      numUnlabeled: null,
      devices: null,
    };
  client.lastSeen = new Date();
  const arrived = !s.clients.has(clientId);
  s.clients.set(clientId, client);
  if (arrived) s.options.storage?.saveClient(storedClient(client));
  // The client that completes minAvailable starts the open round's clock.
  if (arrived && s.phase === "training" && s.clients.size === s.minAvailable) {
    armDeadline(s);
  }
  return client;
}

/**
 * Counts a known client's refusal, with the last reason (the federation's
 * state is otherwise unchanged), and returns the error to throw.
 */
export function refused(s: FederationState, clientId: string | undefined, error: unknown): unknown {
  const known = clientId !== undefined ? s.clients.get(clientId) : null;
  if (known && error instanceof ApiError) {
    known.updatesRejected++;
    known.lastRejection = `${error.code}: ${error.message}`.slice(0, 300);
  }
  return error;
}

/** A client's record once its update (with `metadata`) is accepted. */
export function acceptedRecord(
  known: ClientRecord | undefined,
  clientId: string,
  metadata: UpdateMetadata,
): ClientRecord {
  return {
    id: clientId,
    lastSeen: new Date(),
    updatesAccepted: (known?.updatesAccepted ?? 0) + 1,
    backend: metadata.backend ?? known?.backend ?? null,
    device: metadata.device ?? known?.device ?? null,
    runtime: metadata.runtime ?? known?.runtime ?? null,
    updatesRejected: known?.updatesRejected ?? 0,
    lastRejection: known?.lastRejection ?? null,
    numLabeled: metadata.numLabeled,
    numUnlabeled: metadata.numUnlabeled,
    devices: metadata.devices ?? null,
  };
}

/** A stored client's record, as resumed (refusals are not stored: they start at 0). */
export function restoredRecord(c: StoredTask["clients"][number]): ClientRecord {
  return {
    ...c,
    lastSeen: new Date(c.lastSeen),
    device: c.device ?? null,
    runtime: c.runtime ?? null,
    updatesRejected: 0,
    lastRejection: null,
    numLabeled: c.numLabeled ?? null,
    numUnlabeled: c.numUnlabeled ?? null,
    devices: c.devices ?? null,
  };
}

/** The clients as GET /v1/status lists them. */
export function clientsStatus(s: FederationState): Status["clients"] {
  return [...s.clients.values()].map((c) => ({ ...c, lastSeen: c.lastSeen.toISOString() }));
}
