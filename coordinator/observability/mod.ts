/**
 * Seeing a coordinator: Prometheus metrics, the log, and the OpenAPI document
 * and its docs page.
 * @module
 */
export * from "./api_docs.ts";
export * from "./api_operation.ts";
export * from "./log.ts";
export * from "./metrics.ts";
export * from "./openapi.ts";
