/**
 * The coordinator's HTTP(S) listener: the app served over `node:http` or
 * `node:https` (whose sockets the coordinator can see and bound, unlike
 * `Deno.serve`'s), with deadlines for a request's headers, for the whole
 * request and for idle keep-alive connections, and bounds on the open
 * connections in total and per address. Past a bound a new connection is
 * closed at once; the ones already open keep being served.
 * @module
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { getRequestListener } from "@hono/node-server";

/** Deadlines and bounds on connections; each has a default. */
export interface ConnectionLimits {
  /** Seconds a client has to send a request's headers. @default 10 */
  headersTimeoutSeconds?: number;
  /** Seconds a request, headers and body, may take to arrive whole. @default 300 */
  requestTimeoutSeconds?: number;
  /** Seconds an idle keep-alive connection stays open. @default 5 */
  keepAliveTimeoutSeconds?: number;
  /** Connections open at once, from everyone. @default 4096 */
  maxConnections?: number;
  /** Connections open at once from one address (devices behind one NAT share one). @default 256 */
  maxConnectionsPerAddress?: number;
}

/** The defaults of {@linkcode ConnectionLimits}. */
export const CONNECTION_DEFAULTS: Required<ConnectionLimits> = {
  headersTimeoutSeconds: 10,
  requestTimeoutSeconds: 300,
  keepAliveTimeoutSeconds: 5,
  maxConnections: 4096,
  maxConnectionsPerAddress: 256,
};

/** Milliseconds {@linkcode Listener.close} lets requests in flight finish. */
const CLOSE_GRACE_MS = 500;

/** What the handler gets besides the request: the `node:http` objects behind it. */
export interface ServerEnv {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
}

/** Options of {@linkcode listen}. */
export interface ListenOptions {
  /** The handler (a Hono app's `fetch`); `env.incoming` is the `node:http` request behind `request`. */
  fetch: (request: Request, env: ServerEnv) => Response | Promise<Response>;
  /** Interface to listen on. @default "127.0.0.1" */
  hostname?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** A certificate chain and its key (PEM): serve HTTPS. @default plain HTTP */
  tls?: { cert: string; key: string };
  /** Deadlines and bounds on connections. */
  limits?: ConnectionLimits;
  /** Called when a connection is refused by a bound, with the address and the bound's name. */
  onRefused?: (address: string, bound: "maxConnections" | "maxConnectionsPerAddress") => void;
}

/** A listening server. */
export interface Listener {
  /** The address it listens on. */
  hostname: string;
  port: number;
  /** `"https"` with a certificate, else `"http"`. */
  protocol: "http" | "https";
  /** Connections open now. */
  connections(): number;
  /** Connections refused by the bounds since the start. */
  refused(): number;
  /** Stops listening, lets requests in flight finish (half a second at most) and closes every connection. */
  close(): Promise<void>;
}

/**
 * Serves `fetch` on `hostname:port`, over HTTPS when `tls` is given.
 *
 * @example
 * ```ts
 * import { listen } from "./listener.ts";
 * import assert from "node:assert/strict";
 * const server = await listen({ fetch: () => new Response("ok") });
 * const res = await fetch(`http://127.0.0.1:${server.port}/`);
 * assert.equal(await res.text(), "ok");
 * await server.close();
 * ```
 */
export async function listen(options: ListenOptions): Promise<Listener> {
  const limits = { ...CONNECTION_DEFAULTS, ...options.limits };
  for (const [name, value] of Object.entries(limits)) {
    if (!(typeof value === "number" && value > 0)) {
      throw new RangeError(`Cannot listen: ${name} must be a positive number, got ${value}`);
    }
  }
  if (options.tls) checkCertificate(options.tls);
  const ms = (seconds: number) => Math.round(seconds * 1000);
  const serverOptions = {
    headersTimeout: ms(limits.headersTimeoutSeconds),
    requestTimeout: ms(Math.max(limits.requestTimeoutSeconds, limits.headersTimeoutSeconds)),
    keepAliveTimeout: ms(limits.keepAliveTimeoutSeconds),
    // How often the deadlines are checked (Node's default, 30 s, would let them slip).
    connectionsCheckingInterval: Math.max(
      100,
      Math.min(1000, ms(limits.headersTimeoutSeconds) / 4),
    ),
  };
  const listener = getRequestListener(
    options.fetch as (request: Request, env: unknown) => Response | Promise<Response>,
    { overrideGlobalObjects: false },
  );
  const server: Server = options.tls
    ? createHttpsServer(
      { ...serverOptions, cert: options.tls.cert, key: options.tls.key },
      listener,
    )
    : createHttpServer(serverOptions, listener);
  // The deadlines, set as properties too: some versions read only these.
  server.headersTimeout = serverOptions.headersTimeout;
  server.requestTimeout = serverOptions.requestTimeout;
  server.keepAliveTimeout = serverOptions.keepAliveTimeout;

  const open = new Set<Socket>();
  const perAddress = new Map<string, number>();
  let refused = 0;
  server.on("connection", (socket: Socket) => {
    const address = (socket.remoteAddress ?? "unknown").replace(/^::ffff:/, "");
    const fromAddress = perAddress.get(address) ?? 0;
    if (open.size >= limits.maxConnections || fromAddress >= limits.maxConnectionsPerAddress) {
      refused++;
      socket.destroy();
      options.onRefused?.(
        address,
        open.size >= limits.maxConnections ? "maxConnections" : "maxConnectionsPerAddress",
      );
      return;
    }
    socket.on("timeout", () => socket.destroy());
    open.add(socket);
    perAddress.set(address, fromAddress + 1);
    socket.once("close", () => {
      open.delete(socket);
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    });
  });
  // An idle keep-alive connection closes at keepAliveTimeout after its last
  // response. Deno's node:http does not enforce server.keepAliveTimeout (such a
  // connection stayed open until the request deadline), so it is done here:
  // the socket's idle timer runs only while none of its requests is in flight
  // (a pipelined request can arrive before the one ahead of it is answered).
  const inFlight = new WeakMap<Socket, number>();
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket as Socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    socket.setTimeout(0);
    response.once("close", () => {
      const left = (inFlight.get(socket) ?? 1) - 1;
      inFlight.set(socket, left);
      if (left === 0 && !socket.destroyed) socket.setTimeout(serverOptions.keepAliveTimeout);
    });
  });
  // A client's broken TLS handshake or malformed request is the client's
  // problem: close its socket and keep serving.
  server.on("tlsClientError", (_error: unknown, socket: Socket) => socket.destroy());
  server.on("clientError", (_error: unknown, socket: Socket) => {
    if (!socket.destroyed) socket.destroy();
  });

  const ready = Promise.withResolvers<void>();
  server.once("error", ready.reject);
  server.listen(options.port ?? 0, options.hostname ?? "127.0.0.1", () => ready.resolve());
  await ready.promise;
  server.off("error", ready.reject);
  const address = server.address();
  if (address === null || typeof address === "string") {
    throw new Error("Cannot listen: the server has no TCP address");
  }
  return {
    hostname: address.address,
    port: address.port,
    protocol: options.tls ? "https" : "http",
    connections: () => open.size,
    refused: () => refused,
    async close() {
      // Idle connections close now; requests in flight get a moment to finish
      // (streams such as /v1/events never do), then every socket is closed.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections?.();
      const grace = setTimeout(() => {
        for (const socket of open) socket.destroy();
      }, CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
    },
  };
}

/**
 * Checks a certificate and key before serving them: both parse, the key is
 * the certificate's, and the certificate is valid now. Throws a RangeError
 * that says which (a mismatched pair would otherwise fail every handshake).
 *
 * @example
 * ```ts
 * import { checkCertificate } from "./listener.ts";
 * import { createDevCertificates } from "../endpoint/dev_cert.ts";
 * import assert from "node:assert/strict";
 * const { ca, server } = await createDevCertificates({ hosts: ["localhost"] });
 * checkCertificate(server);
 * assert.throws(() => checkCertificate({ cert: server.cert, key: ca.key }), /not the certificate's/);
 * ```
 */
export function checkCertificate(tls: { cert: string; key: string }, now = new Date()): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(tls.cert);
  } catch (error) {
    throw new RangeError(`Cannot serve HTTPS: the certificate does not parse (${error})`);
  }
  let key;
  try {
    key = createPrivateKey(tls.key);
  } catch (error) {
    throw new RangeError(`Cannot serve HTTPS: the private key does not parse (${error})`);
  }
  if (!cert.checkPrivateKey(key)) {
    throw new RangeError(
      `Cannot serve HTTPS: the private key is not the certificate's (${
        cert.subject.replace(/\n/g, ", ")
      })`,
    );
  }
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) {
    throw new RangeError(
      `Cannot serve HTTPS: the certificate is valid from ${cert.validFrom} to ${cert.validTo}, not now`,
    );
  }
}
