/**
 * `deno task simulate`: many federated clients on one machine against a real
 * coordinator, arms over seeds, with reports and plots; `deno task
 * robustness` for attacks.
 * @module
 */
export * from "./arms.ts";
export * from "./config.ts";
export * from "./paired.ts";
export * from "./plot_svg.ts";
export * from "./report.ts";
export * from "./run_arm.ts";
export * from "./simulation_task.ts";
