// The newcomer's first command, `deno task demo`, run as its own process: it
// prints the dashboard link with the admin token before the rounds, the link
// opens the dashboard and its token reads the admin API while the demo runs,
// and the demo ends with the holdout accuracy and the final model.
import assert from "node:assert/strict";
import { denoRunArgs } from "./_deno_run.ts";

/** The lines of a byte stream as they arrive. */
async function* linesOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    const text = decoder.decode(chunk, { stream: true });
    const parts = (rest + text).split("\n");
    rest = parts.pop()!;
    yield* parts;
  }
  if (rest) yield rest;
}

Deno.test("deno task demo prints a working dashboard link at the start, then the rounds", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "demo-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: denoRunArgs("demo.ts", [
      "--clients",
      "2",
      "--rounds",
      "2",
      "--local-steps",
      "5",
      "--run-dir",
      runDir,
    ]),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines: string[] = [];
  try {
    for await (const line of linesOf(child.stdout)) {
      lines.push(line);
      const link = line.match(/^watch it live: (\S+) \(the dashboard\)$/)?.[1];
      if (!link) continue;
      assert.ok(
        !lines.some((l) => /^\s+\d+\s+\d+/.test(l)),
        "the link comes before any round line",
      );
      const url = new URL(link);
      const token = new URLSearchParams(url.hash.slice(1)).get("token");
      assert.match(token ?? "", /^adm_/);
      const page = await fetch(new URL("/", url));
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i);
      const clients = await fetch(new URL("/v1/clients", url), {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(clients.status, 200, await clients.text());
      const anonymous = await fetch(new URL("/v1/clients", url));
      assert.equal(anonymous.status, 401);
      await anonymous.body?.cancel();
    }
    const { code } = await child.status;
    const output = lines.join("\n");
    assert.equal(code, 0, `${output}\n${await stderr}`);
    assert.match(output, /watch it live: /);
    assert.match(output, /^round clients labeled unlabeled accuracy/m);
    assert.match(output, /^\s+2\s+2\s+/m);
    assert.match(output, /done in [\d.]+ s: holdout accuracy [\d.]+%, final model \S+model\.json/);
  } finally {
    await stderr.catch(() => "");
    await Deno.remove(runDir, { recursive: true }).catch(() => {});
  }
});
