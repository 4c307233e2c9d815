/**
 * Data: the dataset type, data files and folders, the built-in MNIST, spam and
 * Brown corpora (the last as sequence rows), demo shards and partitions across
 * clients.
 * @module
 */
export * from "./brown.ts";
export * from "./brown_sequences.ts";
export * from "./data_file.ts";
export * from "./dataset.ts";
export * from "./demo_shard.ts";
export * from "./mnist.ts";
export * from "./partition.ts";
export * from "./read_data.ts";
export * from "./spam.ts";
