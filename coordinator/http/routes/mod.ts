/**
 * The v1 routes by group (system, enrolment, tasks, training, uploads, secure
 * aggregation) with the OpenAPI table of each, and the pages served beside
 * them.
 * @module
 */
export * from "./client_page.ts";
export * from "./docs_page.ts";
export * from "./enrolment.ts";
export * from "./secure.ts";
export * from "./system.ts";
export * from "./tasks.ts";
export * from "./training.ts";
export * from "./uploads.ts";
