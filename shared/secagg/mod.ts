/**
 * Secure aggregation (SecAgg+): keys, shares, masks, the neighbour graph,
 * quantized inputs, both sides of the protocol and its wire format.
 * @module
 */
export * from "./client.ts";
export * from "./graph.ts";
export * from "./input.ts";
export * from "./keys.ts";
export * from "./mask.ts";
export * from "./masking.ts";
export * from "./params.ts";
export * from "./quantize.ts";
export * from "./server.ts";
export * from "./settings.ts";
export * from "./shares.ts";
export * from "./wire.ts";
