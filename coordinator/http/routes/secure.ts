/**
 * The routes of secure aggregation, per task: GET /v1/secagg (where the open
 * round's protocol stands for the asking client), POST /v1/secagg/keys,
 * /shares, /input (the masked input, little-endian uint32 values) and
 * /reveal. Part of {@linkcode createApp}; the protocol is in
 * `secure_round.ts`, the bodies' schemas in `shared/secagg/wire.ts`.
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, Hono } from "hono";
import type { z } from "zod";
import type { Access } from "../_access.ts";
import { ApiError } from "../errors.ts";
import type { Federation } from "../../federation/federation.ts";
import type { UploadGate } from "../limits.ts";
import { readBody } from "../read_body.ts";
import { inputLength } from "../../secure/secure_task.ts";
import { formatZodError } from "../../../shared/schemas/mod.ts";
import type { Operation } from "../../observability/api_operation.ts";
import {
  fromBase64,
  KeysRequestSchema,
  RevealRequestSchema,
  SecureAcceptedSchema,
  SecureStateSchema,
  SharesRequestSchema,
} from "../../../shared/secagg/wire.ts";

/** What the secure routes need from the app. */
export interface SecureRouteOptions {
  /** The task prefixes (`/v1/tasks/:taskId`, `/v1`). */
  prefixes: string[];
  /** The federation a request's path names. */
  task: (c: Context) => Federation;
  who: Access["who"];
  actingAs: Access["actingAs"];
  uploads: UploadGate;
  uploadTimeoutMs: number;
}

/** Largest JSON body of a secure stage: 254 sealed shares with their ids. */
const MAX_STAGE_JSON = 512 * 1024;

/** Adds the secure-aggregation routes to `app`. */
export function secureRoutes(app: Hono, options: SecureRouteOptions): void {
  const { task, who, actingAs } = options;
  const client = (c: Context, named: string | undefined, what: string): string => {
    const id = actingAs(who(c, "client"), named);
    if (!id) throw new ApiError(400, "bad_request", `Cannot ${what}: name the client (clientId)`);
    return id;
  };
  const body = async <T extends z.ZodType>(c: Context, schema: T, what: string) => {
    const bytes = await readBody(c.req.raw, { maxBytes: MAX_STAGE_JSON, timeoutMs: 30_000, what });
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new ApiError(400, "bad_request", `Cannot ${what}: the body is not JSON`);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new ApiError(400, "bad_request", `Cannot ${what}: ${formatZodError(parsed.error)}`);
    }
    return parsed.data as z.infer<T>;
  };
  const bytes = (text: string, field: string, what: string): Uint8Array => {
    try {
      return fromBase64(text);
    } catch {
      throw new ApiError(400, "bad_request", `Cannot ${what}: ${field} is not base64`);
    }
  };

  for (const prefix of options.prefixes) {
    app.get(`${prefix}/secagg`, (c) => {
      const id = client(c, c.req.query("clientId"), "report the secure round");
      const round = c.req.query("round");
      if (round !== undefined && !/^\d{1,12}$/.test(round)) {
        throw new ApiError(
          400,
          "bad_request",
          "Cannot report the secure round: round must be a number",
        );
      }
      return c.json(task(c).secureState(id, round === undefined ? undefined : Number(round)));
    });
    app.post(`${prefix}/secagg/keys`, async (c) => {
      const what = "advertise keys";
      const req = await body(c, KeysRequestSchema, what);
      const id = client(c, req.clientId, what);
      return c.json(
        task(c).secureKeys(id, req.round, {
          encryptionKey: bytes(req.encryptionKey, "encryptionKey", what),
          maskKey: bytes(req.maskKey, "maskKey", what),
        }, {
          backend: req.backend,
          device: req.device,
          runtime: req.runtime,
          vocabulary: req.vocabulary,
        }),
        202,
      );
    });
    app.post(`${prefix}/secagg/shares`, async (c) => {
      const what = "accept shares";
      const req = await body(c, SharesRequestSchema, what);
      const id = client(c, req.clientId, what);
      const shares = req.shares.map((s) => ({
        to: s.to,
        ciphertext: bytes(s.ciphertext, "ciphertext", what),
      }));
      return c.json(task(c).secureShares(id, req.round, shares), 202);
    });
    app.post(`${prefix}/secagg/reveal`, async (c) => {
      const what = "accept revealed shares";
      const req = await body(c, RevealRequestSchema, what);
      const id = client(c, req.clientId, what);
      const shares = req.shares.map((s) => ({
        about: s.about,
        kind: s.kind,
        share: bytes(s.share, "share", what),
      }));
      return c.json(task(c).secureReveal(id, req.round, shares), 202);
    });
    app.post(`${prefix}/secagg/input`, async (c) => {
      const what = "accept a masked input";
      const id = client(c, c.req.query("clientId"), what);
      const round = Number(c.req.query("round"));
      if (!Number.isInteger(round) || round < 1) {
        throw new ApiError(400, "bad_request", `Cannot ${what}: give ?round=N`);
      }
      const type = c.req.header("Content-Type")?.split(";")[0]?.trim().toLowerCase();
      if (type !== "application/octet-stream") {
        throw new ApiError(
          415,
          "unsupported_media_type",
          `Cannot ${what}: Content-Type must be application/octet-stream`,
        );
      }
      const federation = task(c);
      const env = c.env as { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;
      const gone = new AbortController();
      env?.outgoing?.once("close", () => gone.abort());
      let release: () => void;
      try {
        release = await options.uploads.acquire(id, gone.signal);
      } catch (error) {
        await c.req.raw.body?.cancel().catch(() => {});
        throw error;
      }
      try {
        const length = inputLength(federation.trainable);
        const raw = await readBody(c.req.raw, {
          incoming: env?.incoming,
          maxBytes: length * 4,
          timeoutMs: options.uploadTimeoutMs,
          what,
        });
        if (raw.byteLength !== length * 4) {
          throw new ApiError(
            400,
            "bad_request",
            `Cannot ${what}: it has ${raw.byteLength} bytes, the task's masked input ${length * 4}`,
          );
        }
        // Little-endian uint32 values (the byte order of every platform the clients run on).
        const copy = new Uint8Array(raw);
        const input = new Uint32Array(copy.buffer, 0, length);
        return c.json(federation.secureInput(id, round, input), 202);
      } finally {
        release();
      }
    });
  }
}

/** The OpenAPI operations of secure aggregation's stages. */
export const secureOperations: Operation[] = [
  {
    method: "get",
    path: "/secagg",
    summary:
      "Secure aggregation: where the round's protocol stands for a client, and what it needs next (neighbours' keys, shares sealed to it, survivors and dropped)",
    access: "client",
    perTask: true,
    query: [
      { name: "clientId", description: "the client (open mode; else its token's)" },
      { name: "round", description: "the open round, or the one closed last" },
    ],
    status: 200,
    response: { json: SecureStateSchema, name: "SecureState" },
    errors: [400, 404, 409],
  },
  ...([
    [
      "keys",
      "Secure aggregation, stage keys: a client's two X25519 public keys",
      KeysRequestSchema,
      "KeysRequest",
    ],
    [
      "shares",
      "Secure aggregation, stage shares: the shares sealed to each neighbour (AES-GCM; the coordinator forwards them)",
      SharesRequestSchema,
      "SharesRequest",
    ],
    [
      "reveal",
      "Secure aggregation, stage unmask: the shares of survivors' self-mask seeds and dropped clients' mask keys",
      RevealRequestSchema,
      "RevealRequest",
    ],
  ] as const).map(([stage, summary, schema, name]): Operation => ({
    method: "post",
    path: `/secagg/${stage}`,
    summary,
    access: "client",
    perTask: true,
    request: { json: schema, name },
    status: 202,
    response: { json: SecureAcceptedSchema, name: "SecureAccepted" },
    errors: [400, 404, 409, 413],
  })),
  {
    method: "post",
    path: "/secagg/input",
    summary:
      "Secure aggregation, stage input: the masked input, little-endian uint32 values modulo 2^bits (the trainable values, then weight, numLabeled, numUnlabeled)",
    access: "client",
    perTask: true,
    query: [
      { name: "round", description: "the open round", required: true },
      { name: "clientId", description: "the client (open mode; else its token's)" },
    ],
    request: { binary: "application/octet-stream" },
    status: 202,
    response: { json: SecureAcceptedSchema, name: "SecureAccepted" },
    errors: [400, 404, 408, 409, 413, 415, 503],
  },
];
