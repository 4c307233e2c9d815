/**
 * Taking updates in: checking an update while it streams, validation off the
 * event loop, and resumable (tus) uploads.
 * @module
 */
export * from "./resumable_uploads.ts";
export * from "./streamed_update.ts";
export * from "./update_stream.ts";
export * from "./validate_pool.ts";
export * from "./validate_update.ts";
