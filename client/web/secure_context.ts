/**
 * What the page needs of the browser before it starts: a secure context
 * (HTTPS, or localhost) and the APIs browsers give only there. No DOM access
 * here, so it is tested on plain objects.
 * @module
 */

/** What the page reads of the browser. */
export interface BrowserFeatures {
  /** `isSecureContext`. */
  secure: boolean;
  /** `location.origin`. */
  origin: string;
  /** Whether `navigator.locks` exists (identities are claimed per tab with it). */
  locks: boolean;
  /** Whether `crypto.subtle` and `crypto.randomUUID` exist. */
  webCrypto: boolean;
  /** Whether `Worker` exists (training runs in one). */
  workers: boolean;
}

/**
 * Why the page cannot run here, in words a person can act on; null when it can.
 *
 * @example
 * ```ts
 * import { unmetNeeds } from "./secure_context.ts";
 * import assert from "node:assert/strict";
 * const plain = { secure: false, origin: "http://fl.test:8787", locks: false, webCrypto: false, workers: true };
 * assert.match(unmetNeeds(plain)!, /must be opened over HTTPS/);
 * assert.equal(unmetNeeds({ ...plain, secure: true, locks: true, webCrypto: true }), null);
 * ```
 */
export function unmetNeeds(features: BrowserFeatures): string | null {
  if (!features.secure) {
    const https = features.origin.replace(/^http:/, "https:");
    return "This page must be opened over HTTPS, or on localhost: browsers give WebGPU, " +
      `Web Crypto and Web Locks only to secure pages, and ${features.origin} is not one. ` +
      `Ask for the https:// join link (such as ${https}/client/), from a coordinator ` +
      "started with --tls-cert and --tls-key.";
  }
  const missing = [
    !features.locks && "Web Locks",
    !features.webCrypto && "Web Crypto",
    !features.workers && "Web Workers",
  ].filter(Boolean);
  if (missing.length) {
    return `This browser lacks ${missing.join(", ")}, which the page needs to train. ` +
      "Use a current Chrome, Edge, Firefox or Safari.";
  }
  return null;
}
