// The reference the ingest benchmark compares the coordinator with: a bare
// Deno.serve that only reads each request's body and answers, nothing
// stored, checked or folded. Run as `deno run --allow-net _bare_server.ts PORT`;
// it prints "ready" once it listens.
const port = Number(Deno.args[0]);
Deno.serve({ port, hostname: "127.0.0.1", onListen: () => console.log("ready") }, async (req) => {
  const path = new URL(req.url).pathname;
  if (path === "/v1/enrol") {
    await req.text();
    return Response.json({ token: "bare" });
  }
  if (path === "/v1/health") return Response.json({ ok: true });
  const body = await req.arrayBuffer();
  return Response.json({ accepted: true, bytes: body.byteLength }, { status: 202 });
});
