/**
 * `deno task simulate`'s flags: its help text and the parsed arguments.
 * @module
 */
import { parseFlags } from "../shared/cli.ts";
import { STRATEGIES } from "../shared/schemas/mod.ts";
import { PRESET_ARMS } from "./config.ts";

/** `deno task simulate --help`. */
export const HELP = `Usage: deno task simulate [--compare | --quick] [options]

Simulated federated clients (in workers) train against a real coordinator over
HTTP. Writes table.md, results.json, partition.json and accuracy.svg to the
run directory.

Presets:
  --compare               every arm (${PRESET_ARMS.join(", ")}), seeds 1,2,3
                          (the pretrained-* arms, for transformer tasks, by --arms only)
  --quick                 every arm, 4 clients, 3 rounds, 10 local steps, 1 seed
Options (override the preset and the config file):
  --config FILE           settings as JSON or YAML (the fields below, camelCase)
  --arms A,B              arms to run (default rdrop-ssl)
  --task NAME|FILE        mnist-mlp (default), mnist-cnn, spam-text, brown-lm, brown-pos
                          (transformers on the Brown corpus; clients skewed over its 15
                          genres by --beta, the holdout whole documents), spam-transformer
                          (a transformer over the first 64 words of each e-mail), or a task file
                          (.yaml/.json) whose trainData rows the clients' shards are drawn
                          from and whose holdout rows score the arms; its training settings
                          are the defaults
  --clients N             clients (default 10)
  --fraction F            clients that train per round (default 1)
  --rounds N              rounds (default 12)
  --local-steps N         local steps per round (default 30)
  --labeled-batch N       labeled rows per step (default 32)
  --unlabeled-batch N     unlabeled rows per step (default 64)
  --alpha A               KL weight on labeled rows (default 1)
  --unlabeled-alpha A     KL weight on unlabeled rows (default 1)
  --prior-alignment W     weight of KL(class prior || mean prediction) on unlabeled rows (default 0)
  --codec KIND            update codec: f32 (default), f16, int8 or topk (int8 values)
  --topk-fraction F       share of each tensor top-k sends (default 0.01)
  --ramp-up N             rounds of linear ramp-up of the unlabeled KL weight (default 0)
  --learning-rate R       local Adam learning rate (default 0.002)
  --dropout P             dropout rate of the model (default 0.3; brown tasks: 0.1, fixed)
  --labeled F             labeled fraction of each client's rows (default 0.02)
  --pretrain-rounds N     rounds of federated self-supervised pretraining (masked tokens, or
                          the next token for a causal model) on every client's rows that the
                          pretrained-supervised and pretrained-rdrop-ssl arms start from,
                          once per seed (default 10; transformer tasks)
  --pretrained-from DIR   start the pretrained arms from an earlier run's pretraining
                          (DIR/pretraining/seed-N.safetensors, which every run with a
                          pretrained arm writes), made with the same settings
  --pretrain-fraction F   clients drawn each pretraining round (default --fraction)
  --pretrain-local-steps N
                          local steps per pretraining round (default --local-steps)
  --pretrain-learning-rate R
                          the pretraining's learning rate (default --learning-rate)
  --lora RANK             the pretrained arms fine-tune LoRA adapters of this rank on the
                          attention projections (block*_query, _key, _value, _output), the head
                          in full, instead of every weight
  --labeled-clients N     only the first N clients hold labels (each --labeled of its rows);
                          the rest hold none, and the supervised arms run without them
  --beta B|iid            Dirichlet label skew (default 0.5)
  --unlabeled-weight W    FedAvg weight of an unlabeled row (default 0.5)
  --server-labeled N      labeled rows at the coordinator, server arms (default 100; a
                          task file's tenth of its rows at most)
  --server-steps N        coordinator fine-tuning steps per round (default 20)
  --centralized-steps N   steps per round of the centralized arm (default 60)
  --strategy NAME         aggregation strategy (default fedavg): ${STRATEGIES.join(", ")}
  --aggregation K=V,...   the strategy's hyperparameters, e.g. trimBeta=0.25 or krumF=2,krumM=6
  --byzantine N           the last N clients attack: they send -scale x their delta (default 0)
  --byzantine-scale S     the attackers' scale (default 10)
  --privacy central|distributed
                          client-level differential privacy: the coordinator draws each
                          round's clients (Poisson, rate --fraction) and reports epsilon;
                          distributed brings secure aggregation
  --noise-multiplier Z    DP noise over the clip bound (default 1)
  --clip C                DP L2 bound of each update (default 1)
  --secure-aggregation    clients send masked inputs (SecAgg+, default settings): the
                          coordinator learns only each round's sum
  --seeds 1,2,3           seeds (default 1)
  --workers N             workers hosting the clients (default: cores)
  --out DIR               run directory (default runs/simulate-<time>)
  --tls                   the coordinator serves HTTPS and the clients check its certificate:
                          a development CA and certificate in OUT/.certs, unless given by
  --tls-cert FILE, --tls-key FILE, --ca-cert FILE
                          the coordinator's certificate and key, and the CA the clients trust`;

/**
 * Parses `deno task simulate`'s arguments; `--help` prints {@linkcode HELP}
 * and exits, an unknown flag stops it naming the flag.
 *
 * @example
 * ```ts ignore
 * import { parseSimulateArgs } from "./args.ts";
 * const args = parseSimulateArgs(["--quick"]);
 * ```
 */
export function parseSimulateArgs(args: string[]) {
  return parseFlags(
    args,
    [
      "config",
      "arms",
      "task",
      "clients",
      "fraction",
      "rounds",
      "local-steps",
      "labeled-batch",
      "unlabeled-batch",
      "alpha",
      "unlabeled-alpha",
      "prior-alignment",
      "ramp-up",
      "learning-rate",
      "dropout",
      "labeled",
      "labeled-clients",
      "pretrain-rounds",
      "pretrain-local-steps",
      "pretrain-fraction",
      "pretrained-from",
      "pretrain-learning-rate",
      "lora",
      "beta",
      "unlabeled-weight",
      "server-labeled",
      "server-steps",
      "centralized-steps",
      "seeds",
      "strategy",
      "codec",
      "topk-fraction",
      "aggregation",
      "byzantine",
      "byzantine-scale",
      "workers",
      "privacy",
      "noise-multiplier",
      "clip",
      "out",
      "tls-cert",
      "tls-key",
      "ca-cert",
    ],
    HELP,
    { booleans: ["compare", "quick", "tls", "secure-aggregation"] },
  );
}
