import assert from "node:assert/strict";
import { emailBody, loadSpamAssassin, loadSpamSplit } from "./spam.ts";
import { splitHoldout } from "./partition.ts";
import { encodeText } from "../preprocess/text.ts";

const TEXT = { vocabSize: 500, maxLength: 32, lowercase: true };

Deno.test("emailBody keeps the subject and the body, drops the other headers", () => {
  const mail = [
    "From someone@example.com  Thu Aug 22 13:17:22 2002",
    "Return-Path: <someone@example.com>",
    "subject: Cheap",
    "\tpills",
    "X-Subject: not this one",
    "",
    "Hello,",
    "Subject: a line of the body",
    "",
    "Bye.",
  ].join("\n");
  assert.equal(emailBody(mail), "Cheap\tpills\nHello,\nSubject: a line of the body\n\nBye.");
});

Deno.test("emailBody handles CRLF, no subject and no blank line", () => {
  assert.equal(emailBody("Subject: Hi\r\nTo: x@y.z\r\n\r\nBody\r\n"), "Hi\nBody\r\n");
  assert.equal(emailBody("To: x@y.z\n\nOnly the body"), "Only the body");
  assert.equal(emailBody("Subject: Headers only\nTo: x@y.z\n"), "Headers only\n");
  assert.equal(emailBody("\nNo headers"), "No headers");
  assert.equal(emailBody("Subject:   \n\nBody"), "Body");
});

Deno.test("emailBody decodes RFC 2047 encoded words in the subject", () => {
  const q = "Subject: =?iso-8859-1?Q?=FCber_alles?= and =?utf-8?B?w6lsw6h2ZQ==?=\n\nx";
  assert.equal(emailBody(q), "über alles and élève\nx");
  // Adjacent encoded words on folded lines join without the white space.
  const folded = "Subject: =?utf-8?Q?ab?=\n\t=?utf-8?Q?cd?=\n\nx";
  assert.equal(emailBody(folded), "abcd\nx");
  // An unknown charset or bad base64 is left as it is.
  assert.equal(emailBody("Subject: =?x-nope?Q?a?=\n\nx"), "=?x-nope?Q?a?=\nx");
  assert.equal(emailBody("Subject: =?utf-8?B?***?=\n\nx"), "=?utf-8?B?***?=\nx");
});

Deno.test("loadSpamAssassin gives 1,896 spam and 4,150 ham e-mails without headers", async () => {
  const { texts, labels } = await loadSpamAssassin();
  assert.equal(texts.length, 6046);
  assert.equal(labels.length, 6046);
  const spam = labels.reduce((n, label) => n + label, 0);
  assert.equal(spam, 1896);
  assert.equal(labels.length - spam, 4150);
  assert.ok(labels.every((label) => label === 0 || label === 1));
  // Ordered by group: easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2.
  assert.equal(labels.indexOf(1), 4150);
  assert.equal(texts[4150]!.split("\n")[0], "Life Insurance - Why Pay More?");
  for (const text of texts) {
    assert.doesNotMatch(text, /^(Return-Path|Received|Delivered-To|Message-Id):/i);
  }
});

Deno.test("loadSpamAssassin is deterministic and returns fresh arrays", async () => {
  const first = await loadSpamAssassin();
  first.texts[0] = "changed";
  first.labels[0] = 7;
  const second = await loadSpamAssassin();
  assert.notEqual(second.texts[0], "changed");
  assert.equal(second.labels[0], 0);
  const third = await loadSpamAssassin();
  assert.deepEqual(third.texts, second.texts);
  assert.deepEqual(third.labels, second.labels);
});

Deno.test("loadSpamSplit encodes the e-mails of a seeded, disjoint split", async () => {
  const { texts, labels } = await loadSpamAssassin();
  const { train, holdout } = await loadSpamSplit({ text: TEXT, seed: 3 });
  assert.equal(train.labels.length, 4837);
  assert.equal(holdout.labels.length, 1209);
  for (const set of [train, holdout]) {
    assert.deepEqual(set.featureShape, [32]);
    assert.equal(set.numClasses, 2);
    assert.equal(set.x.length, set.labels.length * 32);
    assert.ok(set.x.every((id) => Number.isInteger(id) && id >= 0 && id < TEXT.vocabSize));
  }
  const split = splitHoldout(6046, { holdoutFraction: 0.2, seed: 3 });
  const seen = new Set([...split.train, ...split.holdout]);
  assert.equal(seen.size, 6046);
  for (const [set, rows] of [[train, split.train], [holdout, split.holdout]] as const) {
    rows.forEach((row, i) => {
      assert.equal(set.labels[i], labels[row]);
      if (i % 97 === 0) {
        assert.deepEqual(set.x.subarray(i * 32, (i + 1) * 32), encodeText(texts[row]!, TEXT));
      }
    });
  }
});

Deno.test("loadSpamSplit gives the same split for a seed and another for another seed", async () => {
  const a = await loadSpamSplit({ text: TEXT, holdoutFraction: 0.1, seed: 5 });
  const b = await loadSpamSplit({ text: TEXT, holdoutFraction: 0.1, seed: 5 });
  const c = await loadSpamSplit({ text: TEXT, holdoutFraction: 0.1, seed: 6 });
  assert.equal(a.holdout.labels.length, 605);
  assert.deepEqual(a.train, b.train);
  assert.deepEqual(a.holdout, b.holdout);
  assert.notDeepEqual(a.holdout.x, c.holdout.x);
  await assert.rejects(loadSpamSplit({ text: TEXT, holdoutFraction: 1 }), RangeError);
});
