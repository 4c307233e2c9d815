/**
 * For tests and benchmarks: the coordinator CLI started as its own process,
 * the ingest scenario, and one task served by a real app.
 * @module
 */
export * from "./ingest_scenario.ts";
export * from "./spawn.ts";
export * from "./test_app.ts";
