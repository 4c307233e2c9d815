import assert from "node:assert/strict";
import { ResumableUploads } from "./resumable_uploads.ts";

const TUS = { "Tus-Resumable": "1.0.0" };

async function create(uploads: ResumableUploads, size: number, clientId = "c1") {
  const res = await uploads.handle(
    new Request("http://x/v1/uploads", {
      method: "POST",
      headers: { ...TUS, "Upload-Length": String(size) },
    }),
    { clientId },
  );
  assert.equal(res.status, 201);
  return `http://x${res.headers.get("Location")}`;
}

function patch(url: string, offset: number, body: BodyInit, headers: Record<string, string> = {}) {
  return new Request(url, {
    method: "PATCH",
    headers: {
      ...TUS,
      "Upload-Offset": String(offset),
      "Content-Type": "application/offset+octet-stream",
      ...headers,
    },
    body,
  });
}

Deno.test("resumable uploads: PATCHes append at the offset, HEAD tells it, a finished one is taken", async () => {
  const uploads = await ResumableUploads.open(await Deno.makeTempDir(), { maxBytes: 100 });
  const url = await create(uploads, 6);
  const id = url.split("/").at(-1)!;
  let res = await uploads.handle(patch(url, 0, Uint8Array.of(1, 2, 3)), { clientId: "c1" });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get("Upload-Offset"), "3");
  await assert.rejects(uploads.finished(id, "c1"), /it has 3 of its 6 bytes/);
  // A stale offset is a 409 that tells the right one, and changes nothing.
  res = await uploads.handle(patch(url, 1, Uint8Array.of(9)), { clientId: "c1" });
  assert.equal(res.status, 409);
  assert.equal(res.headers.get("Upload-Offset"), "3");
  res = await uploads.handle(new Request(url, { method: "HEAD", headers: TUS }), {
    clientId: "c1",
  });
  assert.equal(res.headers.get("Upload-Offset"), "3");
  assert.equal(res.headers.get("Upload-Length"), "6");
  res = await uploads.handle(patch(url, 3, Uint8Array.of(4, 5, 6)), { clientId: "c1" });
  assert.equal(res.headers.get("Upload-Offset"), "6");
  const finished = await uploads.finished(id, "c1");
  assert.deepEqual(await Deno.readFile(finished.path), Uint8Array.of(1, 2, 3, 4, 5, 6));
  await uploads.taken(id, "c1", { accepted: true, round: 1, received: 1, targetClients: 1 });
  assert.equal(uploads.answerOf(id, "c1")?.round, 1);
  assert.equal(uploads.answerOf(id, "c2"), null);
  await assert.rejects(uploads.finished(id, "c1"), /No upload/);
});

Deno.test("resumable uploads: refusals say why and change nothing", async () => {
  const uploads = await ResumableUploads.open(await Deno.makeTempDir(), { maxBytes: 10 });
  const url = await create(uploads, 4);
  const refused = async (request: Request, status: number, text: RegExp, clientId = "c1") => {
    const res = await uploads.handle(request, { clientId });
    assert.equal(res.status, status);
    assert.match(await res.text(), text);
  };
  await refused(
    new Request("http://x/v1/uploads", { method: "POST", headers: { "Upload-Length": "4" } }),
    412,
    /Tus-Resumable must be 1.0.0/,
  );
  await refused(
    new Request("http://x/v1/uploads", {
      method: "POST",
      headers: { ...TUS, "Upload-Length": "11" },
    }),
    413,
    /exceeds the largest update/,
  );
  await refused(
    new Request("http://x/v1/uploads", {
      method: "POST",
      headers: { ...TUS, "Upload-Length": "x" },
    }),
    400,
    /Upload-Length/,
  );
  await refused(
    patch(url, 0, Uint8Array.of(1), { "Content-Type": "text/plain" }),
    415,
    /Content-Type/,
  );
  // Someone else's upload is not told apart from one that does not exist.
  await refused(patch(url, 0, Uint8Array.of(1)), 404, /No upload/, "c2");
  await refused(patch(url, 0, new Uint8Array(5)), 413, /has 4 bytes/);
  const head = await uploads.handle(new Request(url, { method: "HEAD", headers: TUS }), {
    clientId: "c1",
  });
  assert.equal(head.headers.get("Upload-Offset"), "0");
  // A PATCH cut off counts for nothing: its bytes are sent again.
  const cut = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(Uint8Array.of(7, 7));
      controller.error(new Error("the link dropped"));
    },
  });
  const res = await uploads.handle(patch(url, 0, cut), { clientId: "c1" });
  assert.equal(res.headers.get("Upload-Offset"), "0");
  const after = await uploads.handle(new Request(url, { method: "HEAD", headers: TUS }), {
    clientId: "c1",
  });
  assert.equal(after.headers.get("Upload-Offset"), "0");
  const gone = await uploads.handle(new Request(url, { method: "DELETE", headers: TUS }), {
    clientId: "c1",
  });
  assert.equal(gone.status, 204);
  await refused(new Request(url, { method: "HEAD", headers: TUS }), 404, /^$|No upload/);
});
