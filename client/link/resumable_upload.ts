/**
 * Resumable uploads of large updates, with tus-js-client (the tus 1.0
 * protocol), the same in Deno, Node.js and the browser: its requests go
 * through the client's own `fetch` (so a trusted CA or a browser's TLS
 * apply alike) and its input is the update's bytes. A link that drops or a
 * coordinator that restarts only costs a HEAD and the rest of the bytes.
 * @module
 */
import * as tus from "tus-js-client";

/** Options of {@linkcode uploadResumable}. */
export interface ResumableUploadOptions {
  /** The `fetch` to call. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Sent as `Authorization: Bearer ...` with every request. */
  token?: string | null;
  /**
   * Milliseconds to wait before each retry after a failure (a dropped link,
   * a restarting coordinator, a 5xx, 409, 423 or 429).
   * @default 0, 0.5, 1, 2, 4 s, then 5 s up to 10 minutes
   */
  retryDelays?: number[];
  /**
   * Bytes per PATCH request: a request cut off is sent again whole, so this
   * is what a dropped link costs at most. @default 4 MiB
   */
  chunkSize?: number;
  /** Called as bytes are accepted: (sent so far, total). */
  onProgress?: (sent: number, total: number) => void;
}

const DEFAULT_RETRIES = [0, 500, 1000, 2000, 4000, ...new Array(120).fill(5000)];

/**
 * Uploads `bytes` to the tus endpoint `endpoint` (a coordinator's
 * /v1/uploads), resuming after failures; resolves with the upload's id.
 *
 * @example
 * ```ts ignore
 * const id = await uploadResumable(`${url}/v1/uploads`, bytes, { token });
 * ```
 */
export function uploadResumable(
  endpoint: string,
  bytes: Uint8Array,
  options: ResumableUploadOptions = {},
): Promise<string> {
  const send = options.fetch ?? ((input, init) => fetch(input, init));
  return new Promise<string>((resolve, reject) => {
    const upload = new tus.Upload(bytes as never, {
      endpoint,
      uploadSize: bytes.byteLength,
      retryDelays: options.retryDelays ?? DEFAULT_RETRIES,
      chunkSize: options.chunkSize ?? 4 * 1024 * 1024,
      headers: options.token ? { Authorization: `Bearer ${options.token}` } : {},
      storeFingerprintForResuming: false,
      fingerprint: () => Promise.resolve(""),
      fileReader: new BytesReader(),
      httpStack: new FetchHttpStack(send),
      onProgress: options.onProgress ?? null,
      onError: reject,
      onSuccess: () => {
        const id = new URL(upload.url!, endpoint).pathname.split("/").at(-1);
        if (id) resolve(id);
        else reject(new Error(`The upload's URL "${upload.url}" names no upload`));
      },
    });
    upload.start();
  });
}

/** tus-js-client's input: the bytes of one update. */
class BytesReader {
  openFile(input: Uint8Array) {
    return Promise.resolve({
      size: input.byteLength,
      slice: (start: number, end: number) => {
        // tus-js-client reads a slice's length from `size`, as a Blob has it.
        const value = input.subarray(start, Math.min(end, input.byteLength));
        return Promise.resolve({
          value: Object.assign(value, { size: value.byteLength }),
          done: end >= input.byteLength,
        });
      },
      close: () => {},
    });
  }
}

/** tus-js-client's requests over `fetch`. */
class FetchHttpStack implements tus.HttpStack {
  readonly #fetch: typeof fetch;

  constructor(send: typeof fetch) {
    this.#fetch = send;
  }

  createRequest(method: string, url: string): tus.HttpRequest {
    return new FetchRequest(this.#fetch, method, url);
  }

  getName(): string {
    return "FetchHttpStack";
  }
}

class FetchRequest implements tus.HttpRequest {
  readonly #fetch: typeof fetch;
  readonly #method: string;
  readonly #url: string;
  readonly #headers = new Headers();
  readonly #abort = new AbortController();
  #progress: (sent: number) => void = () => {};

  constructor(send: typeof fetch, method: string, url: string) {
    this.#fetch = send;
    this.#method = method;
    this.#url = url;
  }

  getMethod(): string {
    return this.#method;
  }

  getURL(): string {
    return this.#url;
  }

  setHeader(header: string, value: string): void {
    this.#headers.set(header, value);
  }

  getHeader(header: string): string | undefined {
    return this.#headers.get(header) ?? undefined;
  }

  setProgressHandler(handler: (sent: number) => void): void {
    this.#progress = handler;
  }

  async send(body?: Uint8Array | null): Promise<tus.HttpResponse> {
    const response = await this.#fetch(this.#url, {
      method: this.#method,
      headers: this.#headers,
      body: body ? (body as Uint8Array<ArrayBuffer>) : undefined,
      signal: this.#abort.signal,
    });
    const text = await response.text();
    if (body) this.#progress(body.byteLength);
    return {
      getStatus: () => response.status,
      getHeader: (name: string) => response.headers.get(name) ?? undefined,
      getBody: () => text,
      getUnderlyingObject: () => response,
    };
  }

  abort(): Promise<void> {
    this.#abort.abort();
    return Promise.resolve();
  }

  getUnderlyingObject(): unknown {
    return this.#abort;
  }
}
