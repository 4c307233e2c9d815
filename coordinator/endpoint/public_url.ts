/**
 * The address devices use to reach a coordinator: checked when given, derived
 * from where it listens otherwise.
 * @module
 */

/**
 * Checks a `--public-url`: an `http:` or `https:` origin (no path, query or
 * fragment: the API and the page live at the root). Returns it without a
 * trailing slash; throws a RangeError that says what is wrong.
 *
 * @example
 * ```ts
 * import { parsePublicUrl } from "./public_url.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parsePublicUrl("https://fl.example.org:8443/"), "https://fl.example.org:8443");
 * assert.throws(() => parsePublicUrl("fl.example.org"), /not a URL/);
 * ```
 */
export function parsePublicUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RangeError(`"${text}" is not a URL (e.g. https://fl.example.org:8787)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new RangeError(`"${text}" is not an http:// or https:// URL`);
  }
  if (url.pathname !== "/" || url.search || url.hash || url.username || url.password) {
    throw new RangeError(
      `"${text}" has more than a scheme, host and port: the coordinator serves at the root`,
    );
  }
  return url.origin;
}

/** Whether `hostname` is a loopback address or name (only this machine reaches it). */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || host === "::1" ||
    /^127\.\d+\.\d+\.\d+$/.test(host) || host === "::ffff:127.0.0.1";
}

/**
 * The public URL of a coordinator listening on `hostname:port`: that host,
 * or for a wildcard (`0.0.0.0`, `::`) this machine's first non-loopback
 * IPv4 address (what another device on the network uses).
 *
 * @example
 * ```ts
 * import { defaultPublicUrl } from "./public_url.ts";
 * import assert from "node:assert/strict";
 * assert.equal(defaultPublicUrl({ protocol: "http", hostname: "127.0.0.1", port: 8787 }), "http://127.0.0.1:8787");
 * ```
 */
export function defaultPublicUrl(
  options: { protocol: "http" | "https"; hostname: string; port: number },
): string {
  let host = options.hostname;
  if (host === "0.0.0.0" || host === "::" || host === "") {
    const address = Deno.networkInterfaces().find((i) =>
      i.family === "IPv4" && !isLoopback(i.address)
    );
    host = address?.address ?? "127.0.0.1";
  }
  if (host.includes(":")) host = `[${host}]`;
  return `${options.protocol}://${host}:${options.port}`;
}
