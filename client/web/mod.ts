/**
 * The browser client's page and the dashboard, bundled for the coordinator to
 * serve (`deno task build-web`).
 * @module
 */
export * from "./backend.ts";
export * from "./build.ts";
export * from "./messages.ts";
export * from "./read_files.ts";
export * from "./secure_context.ts";
