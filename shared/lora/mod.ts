/**
 * LoRA adapters: the LoraDense layer, applying adapters to a topology,
 * merging them and exporting them in PEFT's layout.
 * @module
 */
export * from "./apply_lora.ts";
export * from "./lora_dense.ts";
export * from "./merge.ts";
