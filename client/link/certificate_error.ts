/**
 * Why a coordinator's TLS certificate was refused, in words, with the flag
 * that fixes it. No I/O: the browser page bundles it too.
 * @module
 */

/** A certificate the client could not verify: not retried, the message says what to do. */
export class CertificateError extends Error {
  /** The host whose certificate was refused. */
  readonly host: string;

  /** Creates the error for `host` and the verifier's `reason`. */
  constructor(host: string, reason: string) {
    super(
      `Cannot verify the TLS certificate of ${host}: ${reason}. If the coordinator's ` +
        "certificate comes from a private CA (deno task dev-cert makes one), give that CA's " +
        "certificate with --ca-cert FILE; certificate checks are never switched off.",
    );
    this.name = "CertificateError";
    this.host = host;
  }
}

/** Node.js's codes for a certificate it could not verify. */
const NODE_CERT_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REVOKED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** Words for rustls's reasons (Deno). */
const RUSTLS_REASONS: [RegExp, string][] = [
  [/UnknownIssuer/, "it is signed by a certificate authority this client does not trust"],
  [/NotValidForName/, "it is not valid for this host name"],
  [/Expired/, "it has expired"],
  [/NotValidYet/, "it is not valid yet"],
  [/CaUsedAsEndEntity/, "it is a CA certificate, not a server certificate"],
  [/BadSignature/, "its signature is wrong"],
];

/**
 * The {@linkcode CertificateError} behind a failed `fetch` of `url`, or null
 * when the failure was not about a certificate.
 *
 * @example
 * ```ts
 * import { certificateError } from "./certificate_error.ts";
 * import assert from "node:assert/strict";
 * const error = new TypeError("fetch failed", {
 *   cause: new Error("client error (Connect): invalid peer certificate: UnknownIssuer"),
 * });
 * assert.match(certificateError(error, "https://fl.test:8787/v1/task")!.message, /fl.test:8787.*--ca-cert/);
 * assert.equal(certificateError(new TypeError("connection refused"), "https://x/"), null);
 * ```
 */
export function certificateError(error: unknown, url: string): CertificateError | null {
  const host = (() => {
    try {
      return new URL(url).host;
    } catch {
      return url;
    }
  })();
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const { message = "", code } = e as { message?: string; code?: string };
    if (code && NODE_CERT_CODES.has(code)) {
      return new CertificateError(host, `${message} (${code})`);
    }
    const rustls = /invalid peer certificate: ([^\n]*)/.exec(message);
    if (rustls) {
      const words = RUSTLS_REASONS.find(([pattern]) => pattern.test(rustls[1]!))?.[1];
      return new CertificateError(host, words ? `${words} (${rustls[1]})` : rustls[1]!);
    }
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}
