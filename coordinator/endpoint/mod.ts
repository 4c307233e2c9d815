/**
 * How devices reach a coordinator: development certificates, the public URL,
 * join links and their QR codes.
 * @module
 */
export * from "./dev_cert.ts";
export * from "./join_link.ts";
export * from "./public_url.ts";
