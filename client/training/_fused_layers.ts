// Points a model's transformer layers at the wasm kernels while the wasm
// backend runs: LayerNormalization and GeluTanh at client/training/_fused_norm_gelu.ts,
// MultiHeadAttention at _fused_attention.ts. Each patched call falls back to
// the layer's own where the kernels cannot run (another backend, a shape
// they do not cover), so names, weights, topologies and the other backends
// are untouched.
import * as tf from "@tensorflow/tfjs";
import { wasmAttention } from "./_fused_attention.ts";
import { wasmGelu, wasmLayerNorm } from "./_fused_norm_gelu.ts";

type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor;

interface PatchableLayer {
  call: Call;
  getClassName(): string;
}

interface LayerNormLike extends PatchableLayer {
  axis: number | number[];
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
}

interface AttentionLike extends PatchableLayer {
  heads: number;
  causal: boolean;
  dropout: number;
  padId: number;
}

const patched = new WeakSet<object>();

function one(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor | null {
  if (!Array.isArray(inputs)) return inputs;
  return inputs.length === 1 ? inputs[0]! : null;
}

/** The fused call of a layer, or null to run its own. */
function fusedCall(
  layer: PatchableLayer,
): ((inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | null) | null {
  switch (layer.getClassName()) {
    case "LayerNormalization": {
      const norm = layer as LayerNormLike;
      return (inputs) => {
        const x = one(inputs);
        const axis = Array.isArray(norm.axis) ? norm.axis : [norm.axis];
        if (!x || !norm.center || !norm.scale || !norm.gamma || !norm.beta) return null;
        if (axis.length !== 1 || (axis[0] !== -1 && axis[0] !== x.rank - 1)) return null;
        return wasmLayerNorm(x, norm.gamma.read(), norm.beta.read(), norm.epsilon);
      };
    }
    case "GeluTanh":
      return (inputs) => {
        const x = one(inputs);
        return x ? wasmGelu(x) : null;
      };
    case "MultiHeadAttention": {
      const attention = layer as AttentionLike;
      return (inputs, kwargs) => {
        if (!Array.isArray(inputs) || inputs.length < 3) return null;
        const [q, k, v, ids] = inputs;
        return wasmAttention(q!, k!, v!, ids, {
          heads: attention.heads,
          causal: attention.causal,
          padId: attention.padId,
          dropout: kwargs?.training ? attention.dropout : 0,
        });
      };
    }
    default:
      return null;
  }
}

/**
 * Makes the model's LayerNormalization, GeluTanh and MultiHeadAttention
 * layers run the wasm kernels while the wasm backend runs (the same values
 * within float32 rounding, and the same dropout masks); on any other backend,
 * or for a shape the kernels do not cover, each layer's own call runs.
 * Idempotent.
 */
export function useWasmLayers(model: tf.LayersModel): void {
  for (const layer of model.layers as unknown as PatchableLayer[]) {
    if (patched.has(layer)) continue;
    const fused = fusedCall(layer);
    if (!fused) continue;
    patched.add(layer);
    const own = layer.call.bind(layer);
    layer.call = (inputs, kwargs) =>
      tf.tidy(() => fused(inputs, kwargs) ?? own(inputs, kwargs)) as tf.Tensor;
  }
}
