/**
 * Trusting a coordinator's certificate authority (`--ca-cert FILE`) on top of
 * the system's roots. Certificate checks are never switched off; a refused
 * certificate is explained by `certificate_error.ts`.
 *
 * Under Deno the CA goes into an HTTP client of `fetch`. Node.js's `fetch`
 * takes no CA, so a Node.js process is run again with `NODE_EXTRA_CA_CERTS`
 * naming the file (see {@linkcode rerunTrustingCa}).
 * @module
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import process from "node:process";

/**
 * Reads a CA certificate file (PEM) for `--ca-cert`; throws an Error naming
 * the file and the flag when it is missing or not a certificate.
 *
 * @example
 * ```ts ignore
 * import { readTrustedCa } from "./trust.ts";
 * const pem = await readTrustedCa("certs/ca.pem");
 * ```
 */
export async function readTrustedCa(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new Error(`--ca-cert ${file}: ${(error as Error).message}`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error(`--ca-cert ${file}: not a PEM certificate (no BEGIN CERTIFICATE block)`);
  }
  return text;
}

/**
 * A `fetch` that trusts `caPem` besides the system's roots (Deno). Under
 * Node.js, where `fetch` takes no CA, it is the global `fetch`: run the
 * process with {@linkcode rerunTrustingCa} first.
 *
 * @example
 * ```ts ignore
 * import { fetchTrusting, readTrustedCa } from "./trust.ts";
 * const fetchCa = fetchTrusting(await readTrustedCa("certs/ca.pem"));
 * await fetchCa("https://fl.test:8787/v1/health");
 * ```
 */
export function fetchTrusting(caPem: string): typeof fetch {
  if (typeof Deno === "undefined" || typeof Deno.createHttpClient !== "function") return fetch;
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  return (input, init) => fetch(input, { ...init, client });
}

/**
 * Under Node.js, runs this process again with `NODE_EXTRA_CA_CERTS` set to
 * `caFile` (Node.js reads it only at start) and exits with the child's
 * status; returns at once under Deno, or when it is already set.
 *
 * @example
 * ```ts ignore
 * import { rerunTrustingCa } from "./trust.ts";
 * await rerunTrustingCa("certs/ca.pem");
 * ```
 */
export async function rerunTrustingCa(caFile: string): Promise<void> {
  if (typeof Deno !== "undefined") return;
  const path = resolve(caFile);
  if (process.env.NODE_EXTRA_CA_CERTS === path) return;
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, NODE_EXTRA_CA_CERTS: path },
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => child.kill(signal));
  }
  const code = await new Promise<number>((done) =>
    child.on("exit", (status, signal) => done(status ?? (signal ? 128 : 1)))
  );
  process.exit(code);
}
