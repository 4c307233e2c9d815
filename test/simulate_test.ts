// The quick comparison end to end: a real coordinator per arm, clients in
// workers over HTTP; it must write the table, the JSON of every round and the plot.
import assert from "node:assert/strict";
import { denoRunArgs, runDenoScript } from "./_deno_run.ts";
import { join } from "node:path";
import { PRESET_ARMS } from "../simulate/config.ts";

Deno.test("deno task simulate --quick runs every arm and writes table, JSON, partition and plot", async () => {
  const out = await Deno.makeTempDir({ prefix: "simulate-" });
  try {
    const command = new Deno.Command(Deno.execPath(), {
      args: denoRunArgs("simulate/main.ts", [
        "--quick",
        "--out",
        out,
      ]),
      stdout: "piped",
      stderr: "piped",
    });
    const { code, stdout, stderr } = await command.output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 0, `${text}\n${new TextDecoder().decode(stderr)}`);
    assert.match(text, /label histogram per client/);

    const table = await Deno.readTextFile(join(out, "table.md"));
    for (const arm of PRESET_ARMS) {
      assert.match(table, new RegExp(`\\| ${arm} \\| \\d+\\.\\d\\d ± \\d+\\.\\d\\d \\|`));
    }

    const results = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
    assert.equal(results.runs.length, PRESET_ARMS.length);
    for (const run of results.runs) {
      assert.deepEqual(run.rounds.map((r: { round: number }) => r.round), [0, 1, 2, 3]);
      for (const r of run.rounds) assert.ok(r.accuracy >= 0 && r.accuracy <= 1);
      // Training helps every arm over the initial model.
      assert.ok(
        run.rounds[3].accuracy > run.rounds[0].accuracy + 0.2,
        `${run.arm}: ${JSON.stringify(run.rounds)}`,
      );
    }
    const federated = results.runs.filter((r: { arm: string }) => r.arm !== "centralized");
    for (const run of federated) assert.ok(run.bytesSent > 0);

    const partition = JSON.parse(await Deno.readTextFile(join(out, "partition.json")));
    assert.equal(partition[0].clients.length, 4);

    const svg = await Deno.readTextFile(join(out, "accuracy.svg"));
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal(svg.match(/<polyline/g)?.length, PRESET_ARMS.length);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("deno task simulate --secure-aggregation: the simulated clients send masked inputs, summed each round", async () => {
  const out = await Deno.makeTempDir({ prefix: "simulate-secure-" });
  try {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../simulate/main.ts", import.meta.url).pathname,
        "--secure-aggregation",
        "--clients",
        "4",
        "--rounds",
        "2",
        "--local-steps",
        "5",
        "--arms",
        "rdrop-ssl",
        "--out",
        out,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 0, `${text}\n${new TextDecoder().decode(stderr)}`);
    const results = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
    const [run] = results.runs;
    assert.deepEqual(
      run.rounds.slice(1).map((r: { secureSurvivors?: number }) => r.secureSurvivors),
      [4, 4],
    );
    assert.ok(run.rounds[2].accuracy > run.rounds[0].accuracy + 0.2, JSON.stringify(run.rounds));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("deno task simulate --privacy central: the coordinator draws the clients, and epsilon is in the table and the JSON", async () => {
  const out = await Deno.makeTempDir({ prefix: "simulate-dp-" });
  try {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../simulate/main.ts", import.meta.url).pathname,
        "--privacy",
        "central",
        "--noise-multiplier",
        "1",
        "--clients",
        "20",
        "--fraction",
        "0.5",
        "--rounds",
        "2",
        "--local-steps",
        "3",
        "--arms",
        "rdrop-ssl",
        "--out",
        out,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 0, `${text}\n${new TextDecoder().decode(stderr)}`);
    const table = await Deno.readTextFile(join(out, "table.md"));
    assert.match(table, /\| bytes sent \| epsilon \|/);
    const results = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
    const rounds = results.runs[0].rounds.slice(1);
    assert.equal(rounds.length, 2);
    // Epsilon grows round by round; the drawn clients vary about q x N = 10.
    assert.ok(rounds[0].epsilon > 0 && rounds[1].epsilon > rounds[0].epsilon);
    for (const r of rounds) assert.ok(r.clients >= 1 && r.clients <= 20, JSON.stringify(r));
    assert.equal(results.summaries[0].meanEpsilon, rounds[1].epsilon);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("deno task simulate --task FILE runs the arms on a task file's own model and rows, and says when an arm does not beat supervised", async () => {
  const out = await Deno.makeTempDir({ prefix: "simulate-task-" });
  try {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: denoRunArgs("simulate/main.ts", [
        "--task",
        new URL("../examples/iris/task.yaml", import.meta.url).pathname,
        "--arms",
        "supervised,rdrop-ssl",
        "--quick",
        "--out",
        out,
      ]),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 0, `${text}\n${new TextDecoder().decode(stderr)}`);
    assert.match(text, /^iris: 4 clients/m);
    const results = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
    assert.deepEqual(results.runs.map((r: { arm: string }) => r.arm), ["supervised", "rdrop-ssl"]);
    // The iris file's rows: 120 train rows less the coordinator's tenth, over 4 clients; scored on 30.
    const partition = JSON.parse(await Deno.readTextFile(join(out, "partition.json")));
    assert.equal(partition[0].serverLabeled, 12);
    assert.equal(
      partition[0].clients.reduce((n: number, c: { rows: number }) => n + c.rows, 0),
      108,
    );
    assert.equal(results.config.localSteps, 10); // the quick preset over the file's 20
    assert.equal(results.config.learningRate, 0.01); // the file's, over the default 0.002
    for (const run of results.runs) {
      for (const r of run.rounds) assert.ok(Number.isInteger(r.accuracy * 30), `${r.accuracy}`);
    }
    const [paired] = results.paired;
    assert.equal(paired.arm, "rdrop-ssl");
    assert.equal(paired.baseline, "supervised");
    const verdict = paired.wins === 1 ? "beats supervised" : "does not beat supervised";
    assert.match(text, new RegExp(`rdrop-ssl ${verdict}`));
    assert.match(await Deno.readTextFile(join(out, "table.md")), /\| rdrop-ssl − supervised \|/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("deno task simulate --task: a task file without trainData is refused with the reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simulate-task-" });
  try {
    const file = join(dir, "task.yaml");
    await Deno.writeTextFile(file, "id: t\nmodel: { builtin: mnist-mlp }\n");
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: denoRunArgs("simulate/main.ts", [
        "--task",
        file,
        "--quick",
        "--out",
        join(dir, "out"),
      ]),
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.notEqual(code, 0);
    assert.match(new TextDecoder().decode(stderr), /give trainData, the labeled rows/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task simulate: the pretrained arms pretrain once per seed, fine-tune with LoRA, and another run starts from the saved pretraining", async () => {
  const out = await Deno.makeTempDir({ prefix: "simulate-pretrained-" });
  const simulate = async (...flags: string[]) => {
    const { code, stdout, stderr } = await runDenoScript("simulate/main.ts", [
      "--task",
      "spam-transformer",
      "--clients",
      "2",
      "--rounds",
      "1",
      "--local-steps",
      "2",
      "--labeled-batch",
      "4",
      "--unlabeled-batch",
      "4",
      "--labeled",
      "0.1",
      "--pretrain-rounds",
      "1",
      ...flags,
    ]);
    return { code, text: stdout + stderr };
  };
  const results = async (dir: string) =>
    JSON.parse(await Deno.readTextFile(join(out, dir, "results.json")));
  try {
    const lora = await simulate(
      "--arms",
      "pretrained-supervised,pretrained-rdrop-ssl",
      "--lora",
      "2",
      "--out",
      join(out, "lora"),
    );
    assert.equal(lora.code, 0, lora.text);
    assert.match(lora.text, /pretraining seed 1 round 1/);
    assert.match(lora.text, /the pretrained arms with LoRA rank 2/);
    const saved = await Deno.stat(join(out, "lora", "pretraining", "seed-1.safetensors"));
    assert.ok(saved.size > 1e6, "the pretrained transformer's weights");
    // Full fine-tuning from the saved pretraining: no pretraining rounds this time.
    const full = await simulate(
      "--arms",
      "pretrained-supervised",
      "--pretrained-from",
      join(out, "lora"),
      "--out",
      join(out, "full"),
    );
    assert.equal(full.code, 0, full.text);
    assert.doesNotMatch(full.text, /pretraining seed/);
    const [adapted] = (await results("lora")).runs;
    const [whole] = (await results("full")).runs;
    // The same start (LoRA's B is zero at first): the same round-0 accuracy.
    assert.equal(adapted.rounds[0].accuracy, whole.rounds[0].accuracy);
    // The adapters and the head: under a tenth of the full update's bytes.
    assert.ok(
      adapted.bytesSent < whole.bytesSent / 10,
      `${adapted.bytesSent} vs ${whole.bytesSent}`,
    );
    // A run whose pretraining would differ is refused, naming the setting.
    const other = await simulate(
      "--arms",
      "pretrained-supervised",
      "--pretrain-rounds",
      "2",
      "--pretrained-from",
      join(out, "lora"),
      "--out",
      join(out, "other"),
    );
    assert.equal(other.code, 2);
    assert.match(other.text, /seed 1 was pretrained with rounds 1, this run asks for 2/);
    // --lora without a pretrained arm is refused.
    const plain = await simulate("--arms", "supervised", "--lora", "2", "--out", join(out, "x"));
    assert.equal(plain.code, 2);
    assert.match(plain.text, /--lora fine-tunes the pretrained arms/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
