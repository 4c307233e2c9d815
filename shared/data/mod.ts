/**
 * Data: the dataset type, data files and folders, the built-in MNIST and spam
 * corpora, demo shards and partitions across clients.
 * @module
 */
export * from "./data_file.ts";
export * from "./dataset.ts";
export * from "./demo_shard.ts";
export * from "./mnist.ts";
export * from "./partition.ts";
export * from "./read_data.ts";
export * from "./spam.ts";
