/**
 * Edge mode: a coordinator that serves its cloud's task to its own clients
 * and sends the cloud one combined update a round.
 * @module
 */
export * from "./edge.ts";
