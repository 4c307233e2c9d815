/**
 * The end of a LoRA run: the merged model (each adapter folded into its
 * layer, `W + (alpha / rank) A B`, a plain tfjs topology with no custom
 * layer) and the adapters alone in Hugging Face PEFT's layout, so PyTorch
 * users can read them. tfjs keeps a Dense kernel as [in, out] and the
 * adapter as A [in, r], B [r, out]; PEFT keeps `lora_A.weight` [r, in] and
 * `lora_B.weight` [out, r] (torch's [out, in] convention): each is the
 * transpose of its tfjs twin, and PEFT's `B @ A` is the transpose of tfjs's
 * `A B`.
 * @module
 */
import { topologyLayers } from "../model/freeze.ts";
import { encodeSafetensors, type Float32Tensor } from "../wire/safetensors.ts";
import { adapters, savedModules } from "./apply_lora.ts";

const LORA_FIELDS = ["rank", "alpha", "dropout", "train_a", "trainA", "seed"];

function transpose(t: Float32Tensor): Float32Tensor {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j * rows + i] = t.data[i * cols + j]!;
  }
  return { shape: [cols, rows], data: out };
}

/** A tfjs weight in torch's layout: 2-D kernels transposed, 4-D conv kernels [kh, kw, in, out] to [out, in, kh, kw]. */
function torchLayout(t: Float32Tensor): Float32Tensor {
  if (t.shape.length === 2) return transpose(t);
  if (t.shape.length !== 4) return t;
  const [kh, kw, cin, cout] = t.shape as [number, number, number, number];
  const out = new Float32Array(t.data.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        for (let o = 0; o < cout; o++) {
          out[((o * cin + i) * kh + y) * kw + x] = t.data[((y * kw + x) * cin + i) * cout + o]!;
        }
      }
    }
  }
  return { shape: [cout, cin, kh, kw], data: out };
}

function weight(weights: Map<string, Float32Tensor>, name: string): Float32Tensor {
  const w = weights.get(name);
  if (!w) throw new RangeError(`Cannot merge adapters: the weights have no "${name}"`);
  return w;
}

/**
 * The model with every adapter folded into its base layer: the topology's
 * LoraDense layers become Dense layers of the same settings (frozen as they
 * were trained), their kernels `W + (alpha / rank) A B`, the adapters' weights
 * gone.
 *
 * @example
 * ```ts
 * import { mergeAdapters } from "./merge.ts";
 * import { withLora } from "./apply_lora.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import { buildModel, readWeights } from "../model/model.ts";
 * import assert from "node:assert/strict";
 * const topology = withLora(mnistMlpTopology(), { rank: 2, alpha: 4, targets: ["logits"], modulesToSave: [], dropout: 0, aggregation: "ffa" });
 * const model = await buildModel(topology);
 * const merged = mergeAdapters(topology, readWeights(model));
 * assert.ok(!merged.weights.has("logits/lora_B"));
 * ```
 */
export function mergeAdapters(
  topology: Record<string, unknown>,
  weights: Map<string, Float32Tensor>,
): { topology: Record<string, unknown>; weights: Map<string, Float32Tensor> } {
  const copy = structuredClone(topology);
  for (const layer of topologyLayers(copy)) {
    if (layer.class_name !== "LoraDense") continue;
    layer.class_name = "Dense";
    const config = { ...layer.config };
    for (const field of LORA_FIELDS) delete config[field];
    layer.config = config;
  }
  const merged = new Map(weights);
  for (const adapter of adapters(topology)) {
    const kernel = weight(weights, `${adapter.name}/kernel`);
    const a = weight(weights, `${adapter.name}/lora_A`);
    const b = weight(weights, `${adapter.name}/lora_B`);
    const [inputs, units] = kernel.shape as [number, number];
    const rank = a.shape[1]!;
    const scale = adapter.alpha / adapter.rank;
    const data = new Float32Array(kernel.data);
    // W + s A B, each entry summed in float64.
    for (let i = 0; i < inputs; i++) {
      for (let j = 0; j < units; j++) {
        let sum = 0;
        for (let k = 0; k < rank; k++) sum += a.data[i * rank + k]! * b.data[k * units + j]!;
        data[i * units + j] = kernel.data[i * units + j]! + scale * sum;
      }
    }
    merged.set(`${adapter.name}/kernel`, { shape: kernel.shape, data });
    merged.delete(`${adapter.name}/lora_A`);
    merged.delete(`${adapter.name}/lora_B`);
  }
  return { topology: copy, weights: merged };
}

/** The adapters in PEFT's layout: adapter_config.json and adapter_model.safetensors. */
export interface PeftAdapter {
  config: Record<string, unknown>;
  safetensors: Uint8Array;
}

/**
 * The adapters alone, as PEFT saves them: `adapter_config.json` (`r`,
 * `lora_alpha`, `lora_dropout`, `target_modules`, ...) and
 * `adapter_model.safetensors` with `base_model.model.<layer>.lora_A.weight`
 * [r, in] and `lora_B.weight` [out, r]. Every adapter of a run has the same
 * rank, alpha and dropout (one `model.lora`). Layers trained in full
 * (`lora.modulesToSave`) are listed as `modules_to_save` and stored whole as
 * PEFT stores them, `base_model.model.<layer>.weight` (a kernel in torch's
 * layout: Dense [out, in], Conv2D [out, in, kh, kw]) and `.bias`.
 *
 * @example
 * ```ts
 * import { peftAdapter } from "./merge.ts";
 * import { withLora } from "./apply_lora.ts";
 * import { mnistMlpTopology } from "../tasks/mnist_mlp.ts";
 * import { buildModel, readWeights } from "../model/model.ts";
 * import assert from "node:assert/strict";
 * const topology = withLora(mnistMlpTopology(), { rank: 2, alpha: 4, targets: ["logits"], modulesToSave: [], dropout: 0, aggregation: "ffa" });
 * const peft = peftAdapter(topology, readWeights(await buildModel(topology)), { baseModel: "mnist-mlp" });
 * assert.deepEqual(peft.config.target_modules, ["logits"]);
 * ```
 */
export function peftAdapter(
  topology: Record<string, unknown>,
  weights: Map<string, Float32Tensor>,
  options: { baseModel?: string } = {},
): PeftAdapter {
  const list = adapters(topology);
  if (list.length === 0) throw new RangeError("Cannot export adapters: the model has none");
  const tensors = new Map<string, Float32Tensor>();
  for (const adapter of list) {
    const prefix = `base_model.model.${adapter.name}`;
    tensors.set(`${prefix}.lora_A.weight`, transpose(weight(weights, `${adapter.name}/lora_A`)));
    tensors.set(`${prefix}.lora_B.weight`, transpose(weight(weights, `${adapter.name}/lora_B`)));
  }
  const saved = savedModules(topology);
  for (const name of saved) {
    for (const [key, tensor] of weights) {
      if (!key.startsWith(`${name}/`)) continue;
      const field = key.slice(name.length + 1);
      const torchName = field === "kernel" ? "weight" : field;
      tensors.set(`base_model.model.${name}.${torchName}`, torchLayout(tensor));
    }
  }
  const first = list[0]!;
  return {
    config: {
      peft_type: "LORA",
      task_type: null,
      base_model_name_or_path: options.baseModel ?? null,
      r: first.rank,
      lora_alpha: first.alpha,
      lora_dropout: first.dropout,
      target_modules: list.map((a) => a.name),
      modules_to_save: saved.length > 0 ? saved : null,
      bias: "none",
      fan_in_fan_out: false,
      inference_mode: true,
    },
    safetensors: encodeSafetensors(tensors, { format: "pt" }),
  };
}
