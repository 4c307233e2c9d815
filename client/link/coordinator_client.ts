/**
 * The HTTP client of the v1 API, as clients use it.
 * @module
 */
import { type ResumableUploadOptions, uploadResumable } from "./resumable_upload.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type Float32Tensor,
} from "../../shared/wire/safetensors.ts";
import { encodeUpdate, type ErrorFeedback } from "../../shared/wire/codec.ts";
import {
  EnrolResponseSchema,
  ErrorResponseSchema,
  type FailureReport,
  type Status,
  StatusSchema,
  type TaskResponse,
  TaskResponseSchema,
  type UpdateAccepted,
  UpdateAcceptedSchema,
  type UpdateCodec,
} from "../../shared/schemas/mod.ts";
import { certificateError } from "./certificate_error.ts";
import {
  type SecureAccepted,
  SecureAcceptedSchema,
  type SecureState,
  SecureStateSchema,
} from "../../shared/secagg/wire.ts";

/** Options of {@linkcode CoordinatorClient}. */
export interface CoordinatorClientOptions {
  /** The task's id. @default the coordinator's default task */
  taskId?: string;
  /** A client's bearer token, sent with every request. */
  token?: string;
  /** The `fetch` to call (one that trusts a CA: `fetchTrusting`). @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** An error answer of the coordinator, with its status and code. */
export class CoordinatorError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The `error.code` of the answer. */
  readonly code: string;
  /** Seconds to wait before retrying (the Retry-After header), or null. */
  readonly retryAfter: number | null;

  /** Creates the error from an answer's parts. */
  constructor(status: number, code: string, message: string, retryAfter: number | null = null) {
    super(message);
    this.name = "CoordinatorError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/**
 * The coordinator could not be reached (a network failure of `fetch`). A
 * `TypeError`, as `fetch`'s own, so callers that retry on those still do.
 */
export class UnreachableError extends TypeError {
  /** Wraps `cause`, the error of `fetch` for `url`. */
  constructor(url: string, cause: unknown) {
    super(
      `The coordinator at ${new URL(url).origin} is unreachable: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
    this.name = "UnreachableError";
  }
}

/** The global model as served. */
export interface GlobalModel {
  /** Every weight of the model by name. */
  weights: Map<string, Float32Tensor>;
  /** The round it opened. */
  round: number;
  /** Its version. */
  version: number;
}

/** What an update carries besides its tensors. */
export interface UpdateInfo {
  round: number;
  baseVersion: number;
  numLabeled: number;
  numUnlabeled: number;
  clientId?: string;
  backend?: string;
  /** The device the backend runs on (a GPU adapter, a CUDA device). */
  device?: string;
  /** The runtime: `deno 2.1.0`, `node 20.1.0`, `chromium 150` ... */
  runtime?: string;
  /** An edge's update: how many devices' updates it combines. */
  devices?: number;
  /** A sequence task: the hash of the vocabulary the rows were tokenized with. */
  vocabulary?: string;
  loss?: number;
  ce?: number;
  kl?: number;
  /** Federated evaluation of the base global on this client's labeled rows. */
  evalAccuracy?: number;
  evalLoss?: number;
  evalExamples?: number;
}

/**
 * Talks to a coordinator: task, model, updates, status.
 *
 * @example
 * ```ts ignore
 * import { CoordinatorClient } from "./coordinator_client.ts";
 * const api = new CoordinatorClient("http://127.0.0.1:8787");
 * const task = await api.task();
 * ```
 */
export class CoordinatorClient {
  /** The coordinator's base URL. */
  readonly baseUrl: string;
  /** The task's id, or null for the coordinator's default task. */
  readonly taskId: string | null;

  readonly #token: string | null;
  readonly #fetch: typeof fetch;

  /**
   * Creates a client for a task (by default the default task) of the
   * coordinator at `baseUrl`, sending `token` (a client's bearer token) with
   * every request.
   */
  constructor(baseUrl: string, options: CoordinatorClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.taskId = options.taskId ?? null;
    this.#token = options.token ?? null;
    // Called as a plain function: a browser's fetch refuses another `this`.
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /**
   * POST /v1/enrol: enrols a client with an enrolment token and returns its
   * id and its own bearer token.
   */
  static async enrol(
    baseUrl: string,
    options: { enrolmentToken: string; clientId?: string; fetch?: typeof fetch },
  ): Promise<{ clientId: string; token: string }> {
    const api = new CoordinatorClient(baseUrl, {
      token: options.enrolmentToken,
      fetch: options.fetch,
    });
    const response = await api.#request("/v1/enrol", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(options.clientId ? { clientId: options.clientId } : {}),
    }, { global: true });
    return EnrolResponseSchema.parse(await response.json());
  }

  /** The URL of `path` (a /v1 path) for this client's task. */
  #url(path: string, options: { global?: boolean } = {}): string {
    const prefix = this.taskId === null || options.global
      ? ""
      : `/tasks/${encodeURIComponent(this.taskId)}`;
    return `${this.baseUrl}${path.replace(/^\/v1/, `/v1${prefix}`)}`;
  }

  async #request(
    path: string,
    init: RequestInit = {},
    options: { global?: boolean } = {},
  ): Promise<Response> {
    const url = this.#url(path, options);
    const headers = new Headers(init.headers);
    if (this.#token) headers.set("Authorization", `Bearer ${this.#token}`);
    let response: Response;
    try {
      response = await this.#fetch(url, { ...init, headers });
    } catch (error) {
      // A certificate that cannot be verified is not retried: it stays so.
      throw certificateError(error, url) ??
        (error instanceof TypeError ? new UnreachableError(url, error) : error);
    }
    if (response.ok) return response;
    const text = await response.text();
    let parsed;
    try {
      parsed = ErrorResponseSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = null;
    }
    if (parsed?.success) {
      throw new CoordinatorError(
        response.status,
        parsed.data.error.code,
        parsed.data.error.message,
        Number(response.headers.get("Retry-After")) || null,
      );
    }
    throw new CoordinatorError(
      response.status,
      "http",
      `${path} answered ${response.status}: ${text.slice(0, 200)}`,
    );
  }

  /** GET /v1/task. */
  async task(): Promise<TaskResponse> {
    return TaskResponseSchema.parse(await (await this.#request("/v1/task")).json());
  }

  /** GET /v1/status. */
  async status(): Promise<Status> {
    return StatusSchema.parse(await (await this.#request("/v1/status")).json());
  }

  /**
   * GET /v1/model, decoded. With a `clientId` the client takes part in the
   * open round (and is listed as a failure if it sends nothing).
   */
  async model(options: { clientId?: string } = {}): Promise<GlobalModel> {
    const query = options.clientId ? `?clientId=${encodeURIComponent(options.clientId)}` : "";
    const bytes = new Uint8Array(await (await this.#request(`/v1/model${query}`)).arrayBuffer());
    const { tensors, metadata } = decodeSafetensors(bytes);
    return { weights: tensors, round: Number(metadata.round), version: Number(metadata.version) };
  }

  /** POST /v1/failures: this client could not train in `round`. */
  async reportFailure(report: FailureReport): Promise<void> {
    await this.#request("/v1/failures", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(report),
    });
  }

  /** POST /v1/updates with a delta per trainable weight, encoded as {@linkcode encodeUpdateBody} does. */
  async sendUpdate(
    delta: Map<string, Float32Tensor>,
    info: UpdateInfo,
    options: { codec?: UpdateCodec; feedback?: ErrorFeedback } = {},
  ): Promise<UpdateAccepted> {
    return await this.postUpdate(encodeUpdateBody(delta, info, options));
  }

  /** The secure-aggregation endpoints (a task with `secureAggregation`). */
  get secure(): SecureCalls {
    const json = (body: unknown): RequestInit => ({
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return {
      state: async (clientId, round) =>
        SecureStateSchema.parse(
          await (await this.#request(
            `/v1/secagg?clientId=${encodeURIComponent(clientId)}&round=${round}`,
          )).json(),
        ),
      post: async (stage, body) =>
        SecureAcceptedSchema.parse(
          await (await this.#request(`/v1/secagg/${stage}`, json(body))).json(),
        ),
      input: async (clientId, round, input) => {
        const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
        const query = `?clientId=${encodeURIComponent(clientId)}&round=${round}`;
        const response = await this.#request(`/v1/secagg/input${query}`, {
          method: "POST",
          headers: { "Content-Type": "application/octet-stream" },
          body: bytes as Uint8Array<ArrayBuffer>,
        });
        return SecureAcceptedSchema.parse(await response.json());
      },
    };
  }

  /**
   * POST /v1/updates with an encoded update. Resending the same bytes after a
   * lost answer is safe: the coordinator answers as the first time.
   */
  async postUpdate(body: Uint8Array): Promise<UpdateAccepted> {
    const response = await this.#request("/v1/updates", {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: body as Uint8Array<ArrayBuffer>,
    });
    return UpdateAcceptedSchema.parse(await response.json());
  }

  /**
   * {@linkcode postUpdate} as a resumable upload (tus, /v1/uploads; the task
   * says `resumableUploads`): the bytes go in a resumable upload, which
   * survives dropped links and coordinator restarts, then POST /v1/updates
   * takes it as the update. Resending after a lost answer is safe.
   */
  async postResumable(
    body: Uint8Array,
    options: Pick<ResumableUploadOptions, "retryDelays" | "chunkSize" | "onProgress"> = {},
  ): Promise<UpdateAccepted> {
    let upload: string;
    try {
      upload = await uploadResumable(this.#url("/v1/uploads"), body, {
        ...options,
        fetch: this.#fetch,
        token: this.#token,
      });
    } catch (error) {
      // tus-js-client's error: the last response's status, when there was one.
      const status = (error as { originalResponse?: { getStatus(): number } | null })
        .originalResponse?.getStatus();
      if (status === undefined) throw error;
      throw new CoordinatorError(
        status,
        "http",
        `The resumable upload failed: ${(error as Error).message.slice(0, 300)}`,
      );
    }
    const response = await this.#request("/v1/updates", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ upload }),
    });
    return UpdateAcceptedSchema.parse(await response.json());
  }
}

/** What the secure-aggregation calls of {@linkcode CoordinatorClient} send and get. */
export interface SecureCalls {
  /** GET /v1/secagg: secure round `round` (the open one, or the one closed last) as `clientId` sees it. */
  state(clientId: string, round: number): Promise<SecureState>;
  /** POST /v1/secagg/keys, /shares or /reveal with a JSON body. */
  post(stage: "keys" | "shares" | "reveal", body: Record<string, unknown>): Promise<SecureAccepted>;
  /** POST /v1/secagg/input: the masked input, little-endian uint32 values. */
  input(clientId: string, round: number, input: Uint32Array): Promise<SecureAccepted>;
}

/**
 * Whether a failed call is worth retrying: the network (a `TypeError` from
 * `fetch`), a server error, or a limit (429, 503, 408).
 *
 * @example
 * ```ts
 * import { CoordinatorError, isRetriable } from "./coordinator_client.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isRetriable(new CoordinatorError(503, "busy", "later")));
 * assert.ok(!isRetriable(new CoordinatorError(409, "stale_update", "round closed")));
 * ```
 */
export function isRetriable(error: unknown): boolean {
  return error instanceof TypeError ||
    (error instanceof CoordinatorError &&
      (error.status >= 500 || error.status === 429 || error.status === 408));
}

/**
 * An update's bytes: the delta in the task's codec (f32 by default) with
 * `info` as metadata; `feedback` carries what compression left out from one
 * update to the next (so encode each update once, and resend the bytes).
 *
 * @example
 * ```ts
 * import { encodeUpdateBody } from "./coordinator_client.ts";
 * import assert from "node:assert/strict";
 * const delta = new Map([["w", { shape: [2], data: Float32Array.of(1, 2) }]]);
 * const bytes = encodeUpdateBody(delta, { round: 1, baseVersion: 0, numLabeled: 1, numUnlabeled: 0 });
 * assert.ok(bytes.length > 8);
 * ```
 */
export function encodeUpdateBody(
  delta: Map<string, Float32Tensor>,
  info: UpdateInfo,
  options: { codec?: UpdateCodec; feedback?: ErrorFeedback } = {},
): Uint8Array {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(info)) {
    if (value !== undefined) {
      metadata[key] = typeof value === "number" && !Number.isInteger(value)
        ? value.toPrecision(6)
        : String(value);
    }
  }
  return options.codec && options.codec.kind !== "f32"
    ? encodeUpdate(delta, options.codec, metadata, options.feedback)
    : encodeSafetensors(delta, metadata);
}
