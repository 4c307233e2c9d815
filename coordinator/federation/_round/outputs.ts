/**
 * What a round leaves behind: the global model's encodings (cached per
 * version), each round's metrics and checkpoint, and the final export.
 * @module
 */
import { join } from "node:path";
import type { Float32Tensor } from "../../../shared/wire/safetensors.ts";
import { encodeSafetensors } from "../../../shared/wire/safetensors.ts";
import type { RoundMetrics } from "../../../shared/schemas/mod.ts";
import { toTfjsArtifacts } from "../../../shared/model/tfjs_format.ts";
import { writeCheckpoint } from "../../storage/checkpoint.ts";
import { transformerSpecOfTopology } from "../../../shared/transformer/spec_of_topology.ts";
import { exportAdapters } from "../../storage/lora_export.ts";
import type { RoundSummary } from "./parts.ts";
import type { FederationState, GlobalModel } from "../_state.ts";

/**
 * A transformer's spec (`transformer`, JSON: what rebuilds it, see
 * docs/transformers.md) and a sequence task's vocabulary hash (`vocabulary`),
 * for the global model's metadata.
 */
function sequenceMetadata(s: FederationState): Record<string, string> {
  const spec = transformerSpecOfTopology(s.task.model.topology);
  const vocabulary = s.task.input.sequence?.vocabulary.hash;
  return {
    ...(spec ? { transformer: JSON.stringify(spec) } : {}),
    ...(vocabulary ? { vocabulary } : {}),
  };
}

/** The global weights, in safetensors and tfjs format, cached per round and version. */
export function globalModel(s: FederationState): GlobalModel {
  if (s.cache?.version !== s.version || s.cache.round !== s.round) {
    s.cache = {
      round: s.round,
      version: s.version,
      safetensors: encodeSafetensors(s.global, {
        round: String(s.round),
        version: String(s.version),
        taskId: s.task.id,
        ...sequenceMetadata(s),
      }),
      tfjs: toTfjsArtifacts(s.task.model.topology, s.global),
    };
  }
  return s.cache;
}

/**
 * Writes the global model as `final/` (tfjs and model.safetensors, and
 * adapters; a sequence task's vocabulary.json) under the run dir.
 */
export async function exportFinal(s: FederationState): Promise<void> {
  if (!s.options.runDir) return;
  const global = globalModel(s);
  const modelJson = await writeCheckpoint(join(s.options.runDir, "final"), {
    artifacts: global.tfjs,
    extra: {
      "model.safetensors": global.safetensors,
      // A sequence task's tokenizer, beside the weights it belongs to.
      ...(s.task.input.sequence
        ? {
          "vocabulary.json": new TextEncoder().encode(
            JSON.stringify(s.task.input.sequence.vocabulary),
          ),
        }
        : {}),
    },
  });
  await exportAdapters(s.options.runDir, {
    taskId: s.task.id,
    topology: s.task.model.topology,
    weights: s.global,
  });
  s.finalModel = modelJson;
}

/** The round {@linkcode measure} reports on. */
export interface Measured {
  /** The round (0: the initial model). */
  round: number;
  /** Its updates, summarized. */
  summary: RoundSummary;
  /** The version of the global it produced. */
  version: number;
  /** When the round opened (performance.now()). */
  openedAt: number;
  /** The weights to checkpoint. */
  weights: Map<string, Float32Tensor>;
}

/** Evaluates the model (as loaded), checkpoints `weights` and returns the round's metrics. */
export async function measure(s: FederationState, of: Measured): Promise<RoundMetrics> {
  const { round, summary, version, openedAt, weights } = of;
  const evaluationStart = performance.now();
  const evaluation = s.evaluator?.evaluate(s.model) ?? null;
  const evaluationSeconds = (performance.now() - evaluationStart) / 1000;
  const checkpoint = s.options.runDir
    ? await writeCheckpoint(
      join(s.options.runDir, roundFolder(round)),
      {
        artifacts: toTfjsArtifacts(s.task.model.topology, weights),
      },
    )
    : null;
  return {
    round,
    version,
    clients: summary.clients,
    numLabeled: summary.numLabeled,
    numUnlabeled: summary.numUnlabeled,
    accuracy: evaluation?.accuracy ?? null,
    loss: evaluation?.loss ?? null,
    ...(evaluation?.perplexity !== undefined ? { perplexity: evaluation.perplexity } : {}),
    seconds: (performance.now() - openedAt) / 1000,
    bytesReceived: summary.bytesReceived,
    checkpoint,
    strategy: s.strategy.name,
    failures: [],
    keptBecause: null,
    mode: s.task.rounds.mode,
    federated: s.strategy.aggregateEvaluation(summary.evaluations),
    updates: [],
    ...(s.evaluator ? { evaluationSeconds } : {}),
  };
}

/**
 * `keepUpdates`: writes an accepted update's bytes (as received) to
 * `updates/round-NNNN/NAME` under the run dir, for inspection.
 */
export function keepUpdateFile(
  s: FederationState,
  round: number,
  name: string,
  bytes: () => Uint8Array,
): void {
  if (!s.options.keepUpdates || !s.options.runDir) return;
  const dir = join(s.options.runDir, "updates", roundFolder(round));
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeFileSync(join(dir, name), bytes());
}

/** A round's folder name: `round-NNNN`. */
function roundFolder(round: number): string {
  return `round-${String(round).padStart(4, "0")}`;
}
