/**
 * The little XML that S3's answers need read: the text of named elements, in order, and the
 * blocks they sit in. S3's documents are flat and regular (no attributes that matter, no mixed
 * content), so a scan by tag name reads them; anything else is not XML this module is for.
 *
 * @module
 */

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

/**
 * Decodes XML's character references and the five predefined entities.
 *
 * @example
 * ```ts
 * import { xmlDecode } from "./xml.ts";
 *
 * console.log(xmlDecode("a&amp;b&#x41;")); // "a&bA"
 * ```
 */
export function xmlDecode(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, (whole, name: string) => {
    if (name.startsWith("#x")) return safeCodePoint(parseInt(name.slice(2), 16), whole);
    if (name.startsWith("#")) return safeCodePoint(parseInt(name.slice(1), 10), whole);
    return ENTITIES[name] ?? whole;
  });
}

function safeCodePoint(code: number, whole: string): string {
  return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
}

/**
 * Escapes text for an XML element's content.
 *
 * @example
 * ```ts
 * import { xmlEscape } from "./xml.ts";
 *
 * console.log(xmlEscape('"a"<b>')); // "&quot;a&quot;&lt;b&gt;"
 * ```
 */
export function xmlEscape(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (char) => `&${Object.entries(ENTITIES).find(([, value]) => value === char)![0]};`,
  );
}

/**
 * The raw contents of every `<tag>…</tag>` in `xml` (not decoded: blocks to read further).
 *
 * @example
 * ```ts
 * import { xmlBlocks } from "./xml.ts";
 *
 * console.log(xmlBlocks("<a><b>1</b></a><a><b>2</b></a>", "a")); // ["<b>1</b>", "<b>2</b>"]
 * ```
 */
export function xmlBlocks(xml: string, tag: string): string[] {
  const found: string[] = [];
  const open = new RegExp(`<${tag}(?:\\s[^>]*)?(/?)>`, "g");
  for (;;) {
    const start = open.exec(xml);
    if (!start) return found;
    if (start[1] === "/") {
      found.push("");
      continue;
    }
    const close = xml.indexOf(`</${tag}>`, open.lastIndex);
    if (close < 0) return found;
    found.push(xml.slice(open.lastIndex, close));
    open.lastIndex = close + tag.length + 3;
  }
}

/**
 * The decoded text of the first `<tag>` in `xml`, or `undefined`.
 *
 * @example
 * ```ts
 * import { xmlText } from "./xml.ts";
 *
 * console.log(xmlText("<Error><Code>NoSuchKey</Code></Error>", "Code")); // "NoSuchKey"
 * ```
 */
export function xmlText(xml: string, tag: string): string | undefined {
  const [first] = xmlBlocks(xml, tag);
  return first === undefined ? undefined : xmlDecode(first);
}
