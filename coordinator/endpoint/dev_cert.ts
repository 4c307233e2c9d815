/**
 * Development certificates: a local certificate authority and a server
 * certificate for some host names and addresses, signed by it, made with
 * `@peculiar/x509` over WebCrypto (ECDSA P-256). Trust the CA on a laptop or a
 * phone once; the server certificate can then be made again for other names
 * with the same CA.
 *
 * `deno task dev-cert --host NAME [--host NAME2 ...] [--out certs] [--days 365]`
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { isIP } from "node:net";
import { join } from "node:path";
import { toHex } from "../../shared/hex.ts";

x509.cryptoProvider.set(crypto);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** PEM texts of a certificate and its private key. */
export interface PemPair {
  cert: string;
  key: string;
}

/** Options of {@linkcode createDevCertificates}. */
export interface DevCertificateOptions {
  /** Host names and IP addresses the server certificate is for (at least one). */
  hosts: string[];
  /** Days the server certificate is valid (browsers refuse more than 397). @default 365 */
  days?: number;
  /** An existing CA to sign with; a new one (valid 10 years) otherwise. */
  ca?: PemPair;
}

/** What {@linkcode createDevCertificates} makes. */
export interface DevCertificates {
  /** The certificate authority (its key signs server certificates: keep it private). */
  ca: PemPair;
  /** The server certificate and key, for `--tls-cert` and `--tls-key`. */
  server: PemPair;
}

/**
 * Makes (or reuses) a CA and a server certificate for `hosts`, signed by it.
 *
 * @example
 * ```ts
 * import { createDevCertificates } from "./dev_cert.ts";
 * import assert from "node:assert/strict";
 * const { ca, server } = await createDevCertificates({ hosts: ["fl.test", "127.0.0.1"] });
 * assert.match(ca.cert, /BEGIN CERTIFICATE/);
 * assert.match(server.key, /BEGIN PRIVATE KEY/);
 * ```
 */
export async function createDevCertificates(
  options: DevCertificateOptions,
): Promise<DevCertificates> {
  const { hosts, days = 365 } = options;
  if (hosts.length === 0) throw new RangeError("Cannot make a certificate: give at least one host");
  for (const host of hosts) {
    if (
      !isIP(host) &&
      !/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(host)
    ) {
      throw new RangeError(`Cannot make a certificate: "${host}" is not a host name or IP address`);
    }
  }
  if (!(Number.isInteger(days) && days >= 1 && days <= 397)) {
    throw new RangeError(
      `Cannot make a certificate: days must be an integer in [1, 397], got ${days}`,
    );
  }
  const ca = options.ca ? await importPair(options.ca) : await newCa();
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = new Date();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${hosts[0]}`,
    issuer: ca.cert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + days * 86_400_000),
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        hosts.map((host) => ({ type: isIP(host) ? "ip" as const : "dns" as const, value: host })),
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  return {
    ca: { cert: ca.cert.toString("pem"), key: ca.keyPem },
    server: { cert: cert.toString("pem"), key: await pemKey(keys.privateKey) },
  };
}

async function newCa(): Promise<{ cert: x509.X509Certificate; key: CryptoKey; keyPem: string }> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = new Date();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=Federated R-Drop development CA ${now.toISOString().slice(0, 10)}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 3650 * 86_400_000),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, key: keys.privateKey, keyPem: await pemKey(keys.privateKey) };
}

async function importPair(
  pair: PemPair,
): Promise<{ cert: x509.X509Certificate; key: CryptoKey; keyPem: string }> {
  const cert = new x509.X509Certificate(pair.cert);
  const der = x509.PemConverter.decodeFirst(pair.key);
  const key = await crypto.subtle.importKey("pkcs8", der, ALGORITHM, true, ["sign"]);
  return { cert, key, keyPem: pair.key };
}

async function pemKey(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

/** A positive 128-bit serial number, as hex. */
function serial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f | 0x01;
  return toHex(bytes);
}

/** The files {@linkcode writeDevCertificates} writes in its folder. */
export const DEV_CERT_FILES = {
  caCert: "ca.pem",
  caKey: "ca-key.pem",
  cert: "server.pem",
  key: "server-key.pem",
} as const;

/**
 * Writes a server certificate for `hosts` into `dir` (the files of
 * {@linkcode DEV_CERT_FILES}; keys readable by the owner only), signed by the
 * CA already in `dir` if there is one, else by a new one. Returns the paths.
 *
 * @example
 * ```ts
 * import { writeDevCertificates } from "./dev_cert.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const files = await writeDevCertificates({ dir, hosts: ["localhost"] });
 * assert.ok(files.caCert.endsWith("ca.pem"));
 * ```
 */
export async function writeDevCertificates(
  options: { dir: string; hosts: string[]; days?: number },
): Promise<{ [K in keyof typeof DEV_CERT_FILES]: string } & { reusedCa: boolean }> {
  const paths = Object.fromEntries(
    Object.entries(DEV_CERT_FILES).map(([k, file]) => [k, join(options.dir, file)]),
  ) as { [K in keyof typeof DEV_CERT_FILES]: string };
  let ca: PemPair | undefined;
  try {
    ca = {
      cert: await Deno.readTextFile(paths.caCert),
      key: await Deno.readTextFile(paths.caKey),
    };
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const made = await createDevCertificates({ hosts: options.hosts, days: options.days, ca });
  await Deno.mkdir(options.dir, { recursive: true });
  if (!ca) {
    await Deno.writeTextFile(paths.caKey, made.ca.key, { mode: 0o600 });
    await Deno.writeTextFile(paths.caCert, made.ca.cert);
  }
  await Deno.writeTextFile(paths.key, made.server.key, { mode: 0o600 });
  await Deno.writeTextFile(paths.cert, made.server.cert);
  return { ...paths, reusedCa: ca !== undefined };
}

const HELP = `Usage: deno task dev-cert [--host NAME ...] [--out DIR] [--days N]

Makes a development certificate authority (once; reused after) and a server
certificate for the given host names and IP addresses, signed by it, in DIR:
ca.pem (trust this on laptops and phones), ca-key.pem (keep private),
server.pem and server-key.pem (for the coordinator's --tls-cert and --tls-key).

Options:
  --host NAME   a host name or IP address devices use for the coordinator (repeatable;
                default: this machine's name and network addresses); localhost,
                127.0.0.1 and ::1 are always included
  --out DIR     where the files go (default certs)
  --days N      days the server certificate is valid (default 365, at most 397)
  -h, --help    this help`;

if (import.meta.main) {
  const { fail, numberFlag, parseFlags } = await import("../../shared/cli.ts");
  const args = parseFlags(Deno.args, ["out", "days"], HELP, { multiple: ["host"] });
  const named = args.host ?? [
    Deno.hostname(),
    ...Deno.networkInterfaces().filter((i) => i.family === "IPv4" && !i.address.startsWith("127."))
      .map((i) => i.address),
  ];
  const hosts = [...new Set([...named, "localhost", "127.0.0.1", "::1"])];
  const dir = args.out ?? "certs";
  const days = numberFlag("days", args.days, 365, { min: 1, max: 397, integer: true });
  const files = await writeDevCertificates({ dir, hosts, days }).catch((error) =>
    fail(error instanceof Error ? error.message : String(error))
  );
  console.log(`dev-cert: ${files.reusedCa ? "reused the CA" : "made a new CA"} ${files.caCert}`);
  console.log(`dev-cert: server certificate for ${hosts.join(", ")}, valid ${days} days:`);
  console.log(`  ${files.cert}\n  ${files.key}`);
  console.log(`Serve HTTPS:
  deno task coordinator --host 0.0.0.0 --tls-cert ${files.cert} --tls-key ${files.key} --public-url https://${
    named[0]
  }:8787
Clients: deno task client --coordinator https://${named[0]}:8787 --ca-cert ${files.caCert} ...
Browsers: trust ${files.caCert} once on each device (docs/security.md: "Trusting the development CA").`);
}
