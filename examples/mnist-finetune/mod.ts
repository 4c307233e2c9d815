/**
 * A worked example: a CNN pretrained on MNIST digits 0-4 (`deno task pretrain`)
 * fine-tuned federated on 5-9, in full or with LoRA adapters
 * (`deno task finetune [--lora R]`). See docs/fine-tuning.md.
 * @module
 */
export {};
