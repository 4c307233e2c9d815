/**
 * The HTTP surface: the Hono app, its routes by group (`routes/`), errors,
 * tokens, request limits, reading bodies and the listener with its connection
 * limits.
 * @module
 */
export * from "./app.ts";
export * from "./auth.ts";
export * from "./errors.ts";
export * from "./limits.ts";
export * from "./listener.ts";
export * from "./read_body.ts";
