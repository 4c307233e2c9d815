/**
 * What clients send: an update's metadata, a finished resumable upload, a failure report, and the answer to an accepted update.
 * @module
 */
import { z } from "zod";

/** POST /v1/updates with a JSON body: take a finished resumable upload as the update. */
export const UploadedUpdateSchema = z.strictObject({
  /** The tus upload's id (the last part of its URL). */
  upload: z.string().min(1).max(200),
});

const intString = (what: string, min: number, max: number) =>
  z.string().regex(/^\d{1,15}$/, `${what} must be a non-negative integer`).transform(Number)
    .pipe(
      z.int().min(min, `${what} must be at least ${min}`).max(
        max,
        `${what} must be at most ${max}`,
      ),
    );

const numberString = (what: string, min: number, max: number) =>
  z.string().max(32).regex(/^[0-9.eE+-]+$/, `${what} must be a number`).transform(Number).pipe(
    z.number().min(min, `${what} must be at least ${min}`).max(
      max,
      `${what} must be at most ${max}`,
    ),
  );

/** The `__metadata__` of POST /v1/updates (safetensors metadata is all strings). */
export const UpdateMetadataSchema = z.object({
  round: intString("round", 1, 1e12),
  baseVersion: intString("baseVersion", 0, 1e12),
  numLabeled: intString("numLabeled", 0, 1e9),
  numUnlabeled: intString("numUnlabeled", 0, 1e9),
  clientId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "clientId must be 1-64 of [A-Za-z0-9._-]")
    .optional(),
  backend: z.string().max(64).optional(),
  /** The device the backend runs on (a GPU adapter, a CUDA device). */
  device: z.string().max(200).optional(),
  /** The client's runtime and its version. */
  runtime: z.string().max(64).optional(),
  /** A sequence task: the hash of the vocabulary the client tokenized its rows with. */
  vocabulary: z.string().regex(/^[0-9a-f]{64}$/, "vocabulary must be 64 hex digits (SHA-256)")
    .optional(),
  /** An edge's update: how many devices' updates it combines. */
  devices: intString("devices", 1, 1e9).optional(),
  loss: z.string().max(32).optional(),
  ce: z.string().max(32).optional(),
  kl: z.string().max(32).optional(),
  /** Federated evaluation: accuracy of the global model (the update's base) on the client's labeled rows. */
  evalAccuracy: numberString("evalAccuracy", 0, 1).optional(),
  /** Federated evaluation: mean cross-entropy of the global model on those rows. */
  evalLoss: numberString("evalLoss", 0, 1e6).optional(),
  /** Federated evaluation: how many labeled rows it was measured on. */
  evalExamples: intString("evalExamples", 1, 1e9).optional(),
}).refine((m) => m.numLabeled + m.numUnlabeled > 0, {
  message: "numLabeled + numUnlabeled must be positive",
  path: ["numLabeled"],
}).refine(
  (m) =>
    (m.evalAccuracy === undefined) === (m.evalLoss === undefined) &&
    (m.evalAccuracy === undefined) === (m.evalExamples === undefined),
  { message: "evalAccuracy, evalLoss and evalExamples come together", path: ["evalAccuracy"] },
).refine((m) => m.evalExamples === undefined || m.evalExamples <= m.numLabeled, {
  message: "evalExamples must not exceed numLabeled",
  path: ["evalExamples"],
});

/** POST /v1/failures: a client could not train in a round. */
export const FailureReportSchema = z.strictObject({
  clientId: z.string().min(1).max(200),
  round: z.int().min(1),
  reason: z.string().min(1).max(1000),
});

/** 202 answer of POST /v1/updates. */
export const UpdateAcceptedSchema = z.strictObject({
  accepted: z.literal(true),
  round: z.int(),
  received: z.int(),
  targetClients: z.int(),
});

/** @see {@linkcode UpdateMetadataSchema} */
export type UpdateMetadata = z.infer<typeof UpdateMetadataSchema>;
/** @see {@linkcode UpdateAcceptedSchema} */
export type UpdateAccepted = z.infer<typeof UpdateAcceptedSchema>;
/** @see {@linkcode FailureReportSchema} */
export type FailureReport = z.infer<typeof FailureReportSchema>;
