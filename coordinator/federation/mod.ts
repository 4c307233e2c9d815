/**
 * Federated rounds for one task (`Federation`, its stages over an explicit
 * state in the `_` files), the registry of tasks one coordinator serves, and
 * which clients take part in a round.
 * @module
 */
export * from "./federation.ts";
export * from "./options.ts";
export * from "./registry.ts";
export * from "./select_clients.ts";
