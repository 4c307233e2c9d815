// The end of a run with LoRA adapters (Federation's final export): beside
// final/ (the adapted model, as every run), final-merged/ (the adapters
// folded into their layers: a plain tfjs model and model.safetensors) and
// final-adapter/ (the adapters alone in PEFT's layout). A run without
// adapters writes neither.
import { join } from "node:path";
import { adapters } from "../../shared/lora/apply_lora.ts";
import { mergeAdapters, peftAdapter } from "../../shared/lora/merge.ts";
import { encodeSafetensors, type Float32Tensor } from "../../shared/wire/safetensors.ts";
import { toTfjsArtifacts } from "../../shared/model/tfjs_format.ts";
import { writeCheckpoint } from "./checkpoint.ts";

/** Writes final-merged/ and final-adapter/ into `runDir` when `topology` has adapters. */
export async function exportAdapters(
  runDir: string,
  options: {
    taskId: string;
    topology: Record<string, unknown>;
    weights: Map<string, Float32Tensor>;
  },
): Promise<void> {
  if (adapters(options.topology).length === 0) return;
  const merged = mergeAdapters(options.topology, options.weights);
  await writeCheckpoint(join(runDir, "final-merged"), {
    artifacts: toTfjsArtifacts(merged.topology, merged.weights),
    extra: { "model.safetensors": encodeSafetensors(merged.weights, { taskId: options.taskId }) },
  });
  const peft = peftAdapter(options.topology, options.weights, { baseModel: options.taskId });
  await writeCheckpoint(join(runDir, "final-adapter"), {
    extra: {
      "adapter_config.json": new TextEncoder().encode(JSON.stringify(peft.config, null, 2)),
      "adapter_model.safetensors": peft.safetensors,
    },
  });
}
