/**
 * The coordinator: serves tasks' global models over HTTP(S), takes clients'
 * updates, runs federated rounds and checkpoints them. `main.ts` is the CLI;
 * `serve.ts` starts one in a program; the folders hold its parts by concern.
 * @module
 */
export * from "./serve.ts";
