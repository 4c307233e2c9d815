/**
 * The link to the coordinator: the HTTP client, resumable uploads, secure
 * aggregation's submission, and trusting a coordinator's CA with clear
 * certificate errors.
 * @module
 */
export * from "./certificate_error.ts";
export * from "./coordinator_client.ts";
export * from "./resumable_upload.ts";
export * from "./secure_submit.ts";
export * from "./trust.ts";
