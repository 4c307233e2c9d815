/**
 * The end-to-end and browser tests (each `*_test.ts` here runs real
 * coordinators, client CLIs and headless Chromium), and the project's own
 * checks: the docs check and the source check.
 * @module
 */
export { checkDocs } from "./docs_check.ts";
export { checkSource } from "./source_check.ts";
