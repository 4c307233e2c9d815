/**
 * The coordinator CLI's flags for how it listens: TLS, the public URL and the
 * connection limits, read and checked (a bad one fails with its name), and a
 * logger of the connections the limits refuse.
 * @module
 */
import { fail, numberFlag } from "../../shared/cli.ts";
import { checkCertificate, CONNECTION_DEFAULTS, type ConnectionLimits } from "../http/listener.ts";
import type { Logger } from "../observability/log.ts";
import { parsePublicUrl } from "../endpoint/public_url.ts";

/** The flags read here (strings, as parsed). */
export interface ListenFlags {
  "tls-cert"?: string;
  "tls-key"?: string;
  "public-url"?: string;
  "header-timeout"?: string;
  "request-timeout"?: string;
  "keep-alive-timeout"?: string;
  "max-connections"?: string;
  "max-connections-per-address"?: string;
}

/** Reads a PEM file for `--flag`, or fails naming the flag and what is wrong. */
async function readPem(flag: string, file: string, kind: RegExp): Promise<string> {
  const text = await Deno.readTextFile(file).catch((error) =>
    fail(`--${flag} ${file}: ${error.message}`)
  );
  if (!kind.test(text)) {
    fail(`--${flag} ${file}: not a PEM file (no ${kind.source.replace(/\\/g, "")} block)`);
  }
  return text;
}

/**
 * The certificate and key (`--tls-cert`, `--tls-key` or `$FL_TLS_CERT`,
 * `$FL_TLS_KEY`), the public URL (`--public-url` or `$FL_PUBLIC_URL`) and the
 * connection limits; the request deadline fits `uploadTimeout` seconds of body
 * plus a minute of queueing by default.
 */
export async function listenFlags(
  args: ListenFlags,
  options: { uploadTimeout: number },
): Promise<{
  tls?: { cert: string; key: string };
  publicUrl?: string;
  connections: Required<ConnectionLimits>;
}> {
  const tlsCert = args["tls-cert"] ?? Deno.env.get("FL_TLS_CERT");
  const tlsKey = args["tls-key"] ?? Deno.env.get("FL_TLS_KEY");
  if (!tlsCert !== !tlsKey) fail("give --tls-cert and --tls-key together");
  const tls = tlsCert && tlsKey
    ? {
      cert: await readPem("tls-cert", tlsCert, /-----BEGIN CERTIFICATE-----/),
      key: await readPem("tls-key", tlsKey, /-----BEGIN [A-Z ]*PRIVATE KEY-----/),
    }
    : undefined;
  if (tls) {
    try {
      checkCertificate(tls);
    } catch (error) {
      fail(`--tls-cert ${tlsCert}, --tls-key ${tlsKey}: ${(error as Error).message}`);
    }
  }
  let publicUrl: string | undefined;
  const publicUrlFlag = args["public-url"] ?? Deno.env.get("FL_PUBLIC_URL");
  if (publicUrlFlag) {
    try {
      publicUrl = parsePublicUrl(publicUrlFlag);
    } catch (error) {
      fail(`--public-url: ${(error as Error).message}`);
    }
  }
  const defaults = CONNECTION_DEFAULTS;
  const headersTimeoutSeconds = numberFlag(
    "header-timeout",
    args["header-timeout"],
    defaults.headersTimeoutSeconds,
    { min: 0.1 },
  );
  const connections = {
    headersTimeoutSeconds,
    requestTimeoutSeconds: numberFlag(
      "request-timeout",
      args["request-timeout"],
      Math.max(
        defaults.requestTimeoutSeconds,
        headersTimeoutSeconds + 60 + options.uploadTimeout,
      ),
      { min: headersTimeoutSeconds },
    ),
    keepAliveTimeoutSeconds: numberFlag(
      "keep-alive-timeout",
      args["keep-alive-timeout"],
      defaults.keepAliveTimeoutSeconds,
      { min: 0.1 },
    ),
    maxConnections: numberFlag(
      "max-connections",
      args["max-connections"],
      defaults.maxConnections,
      {
        min: 1,
        integer: true,
      },
    ),
    maxConnectionsPerAddress: numberFlag(
      "max-connections-per-address",
      args["max-connections-per-address"],
      defaults.maxConnectionsPerAddress,
      { min: 1, integer: true },
    ),
  };
  return { tls, publicUrl, connections };
}

type Bound = "maxConnections" | "maxConnectionsPerAddress";

/**
 * A callback for refused connections that logs at most one warning per bound
 * every 10 s, with the count, the bound's flag and value, and an address.
 */
export function logRefusals(
  log: Logger,
  connections: Required<ConnectionLimits>,
): (address: string, bound: Bound) => void {
  const pending = new Map<Bound, { count: number; address: string }>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  return (address, bound) => {
    const entry = pending.get(bound) ?? { count: 0, address };
    entry.count++;
    pending.set(bound, entry);
    timer ??= setTimeout(() => {
      for (const [name, { count, address }] of pending) {
        const flag = name === "maxConnections"
          ? "--max-connections"
          : "--max-connections-per-address";
        log.warn(
          `coordinator: closed ${count} new connection(s) over ${flag} ${
            connections[name]
          } in 10 s (e.g. from ${address})`,
          { event: "connections_refused", bound: name, count },
        );
      }
      pending.clear();
      timer = undefined;
    }, 10_000);
    Deno.unrefTimer(timer);
  };
}
