/**
 * The adaptive server optimizers of Reddi et al. 2021 (FedAdagrad, FedAdam,
 * FedYogi), one file each over their shared step.
 * @module
 */
export * from "./fed_adagrad.ts";
export * from "./fed_adam.ts";
export * from "./fed_yogi.ts";
export type { FedOptOptions, FedOptState } from "./_fed_opt.ts";
