// Runs the centralized arm in its own thread, so that it trains beside the
// federated arms instead of blocking the coordinator's event loop.
/// <reference lib="deno.worker" />
import type { Float32Tensor } from "../shared/wire/safetensors.ts";
import type { TaskConfig } from "../shared/schemas/mod.ts";
import type { SimulationConfig } from "./config.ts";
import type { RoundPoint } from "./report.ts";
import { runCentralized, type SimulationData } from "./run_arm.ts";

/** The message that starts the run. */
export interface CentralizedRequest {
  config: SimulationConfig;
  seed: number;
  data: SimulationData;
  base: TaskConfig;
  /** A task file's initial weights. */
  weights?: Map<string, Float32Tensor>;
}

self.onmessage = async (message: MessageEvent<CentralizedRequest>) => {
  try {
    const run = await runCentralized({
      ...message.data,
      onRound: (point: RoundPoint) => self.postMessage({ kind: "round", point }),
    });
    self.postMessage({ kind: "done", run });
  } catch (error) {
    self.postMessage({
      kind: "error",
      message: error instanceof Error ? error.message : String(error),
    });
  }
};
