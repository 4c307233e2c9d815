/**
 * The zod schemas of the task spec and of every v1 request and response: the
 * single source of truth of the API, one file per group. Types are inferred
 * from them; the OpenAPI document is generated from them.
 * @module
 */
export { type SecureAggregationConfig, SecureAggregationSchema } from "../secagg/settings.ts";
export { type PrivacyConfig, PrivacySchema } from "../privacy/schema.ts";
export * from "./training.ts";
export * from "./task.ts";
export * from "./sequence.ts";
export * from "./updates.ts";
export * from "./status.ts";
export * from "./enrolment.ts";
export * from "./errors.ts";
