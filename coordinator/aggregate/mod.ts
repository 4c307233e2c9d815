/**
 * Aggregation: the strategies (FedAvg, FedAvgM, FedProx, median, trimmed
 * mean, Krum, and the adaptive optimizers in `fed_opt/`) as pure math over
 * arrays, staleness weights, federated evaluation, and the strategy a task
 * configures (`strategy.ts`).
 * @module
 */
export * from "./fed_avg.ts";
export * from "./fed_avgm.ts";
export * from "./federated_evaluation.ts";
export * from "./krum.ts";
export * from "./median.ts";
export * from "./staleness.ts";
export * from "./strategy.ts";
export * from "./trimmed_mean.ts";
