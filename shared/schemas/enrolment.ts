/**
 * Enrolment and clients' tokens: the enrol request and answer, enrolment tokens, join links, the client list and revocation.
 * @module
 */
import { z } from "zod";

/** The answer of POST /v1/enrol and POST /v1/clients: the client's id and its bearer token. */
export const EnrolResponseSchema = z.object({
  clientId: z.string(),
  token: z.string(),
});

/** @see {@linkcode EnrolResponseSchema} */
export type EnrolResponse = z.infer<typeof EnrolResponseSchema>;

/** POST /v1/enrol and POST /v1/clients: the id to enrol under (optional for /v1/enrol). */
export const EnrolRequestSchema = z.object({
  clientId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "clientId must be 1-64 of [A-Za-z0-9._-]")
    .optional(),
});

/** 201 answer of POST /v1/enrolment-tokens. */
export const EnrolmentTokenSchema = z.strictObject({ token: z.string() });

/** 201 answer of POST /v1/join-link: a browser join link with a new enrolment token, and its QR code. */
export const JoinLinkSchema = z.strictObject({
  /** The page at the coordinator's public URL, with `?enrol=` the token. */
  url: z.string(),
  /** The enrolment token in the link. */
  token: z.string(),
  /** The link as a QR code, an SVG image. */
  svg: z.string(),
});

/** GET /v1/clients: the enrolled clients. */
export const ClientListSchema = z.strictObject({
  clients: z.array(z.strictObject({
    clientId: z.string(),
    created: z.string(),
    revoked: z.boolean(),
  })),
});

/** 200 answer of POST /v1/clients/{clientId}/revoke. */
export const RevokedSchema = z.strictObject({ clientId: z.string(), revoked: z.literal(true) });
