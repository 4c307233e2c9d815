/**
 * The client CLI bundled for Node.js (`deno task build-node`).
 * @module
 */
export * from "./build.ts";
