/**
 * The client: trains locally with R-Drop and sends weight deltas. `main.ts`
 * is the CLI (Deno and Node.js), `run_client.ts` the loop a client runs,
 * `worker.ts` a client in a Web Worker; `training/` and `link/` hold its
 * parts, `web/` the browser page and `node/` the Node.js build.
 * @module
 */
export * from "./run_client.ts";
export * from "./spawn_worker.ts";
