import { Parser } from "htmlparser2";

/** Longest value kept of any one tag (Synapse cuts descriptions to 500 characters). */
const MAX_VALUE = 1000;
const MAX_KEYS = 50;

/**
 * The charset of an HTML document: the Content-Type header's, else a `<meta charset>` or
 * `<meta http-equiv="content-type">` in its first 1024 bytes, else UTF-8. Returns a label
 * TextDecoder knows (so `latin1`/`iso-8859-1` decode as windows-1252, as browsers do).
 */
export function htmlCharset(contentType: string | null, bytes: Buffer): string {
  const fromHeader = /charset\s*=\s*["']?([\w.:-]+)/i.exec(contentType ?? "")?.[1];
  const head = bytes.subarray(0, 1024).toString("latin1");
  const fromMeta =
    /<meta[^>]+charset\s*=\s*["']?([\w.:-]+)/i.exec(head)?.[1] ??
    /<meta[^>]+content\s*=\s*["'][^"']*charset=([\w.:-]+)/i.exec(head)?.[1];
  for (const label of [fromHeader, fromMeta]) {
    if (label && isKnownCharset(label)) return label.toLowerCase();
  }
  return "utf-8";
}

function isKnownCharset(label: string): boolean {
  try {
    new TextDecoder(label);
    return true;
  } catch {
    return false;
  }
}

export function decodeHtml(contentType: string | null, bytes: Buffer): string {
  return new TextDecoder(htmlCharset(contentType, bytes)).decode(bytes);
}

/**
 * The OpenGraph object of a page: every `<meta property|name="og:…" content>` (the first of each
 * key wins), with `og:title` from `<title>` and `og:description` from `<meta name="description">`
 * when the page has none. `og:image` and `og:url` are made absolute against `base`.
 */
export function parseOpenGraph(html: string, base: URL): Record<string, string> {
  const og: Record<string, string> = {};
  let title: string | undefined;
  let description: string | undefined;
  let inTitle = false;
  let titleText = "";
  let svgDepth = 0;

  const parser = new Parser(
    {
      onopentag(name, attrs) {
        if (name === "svg") svgDepth++;
        if (name === "title" && svgDepth === 0 && title === undefined) {
          inTitle = true;
          titleText = "";
        }
        if (name !== "meta") return;
        const key = (attrs.property ?? attrs.name ?? "").trim().toLowerCase();
        const content = attrs.content;
        if (content === undefined) return;
        if (key.startsWith("og:")) {
          if (!(key in og) && Object.keys(og).length < MAX_KEYS) og[key] = clip(content);
        } else if (key === "description" && description === undefined) {
          description = clip(content);
        }
      },
      ontext(text) {
        if (inTitle) titleText += text;
      },
      onclosetag(name) {
        if (name === "svg" && svgDepth > 0) svgDepth--;
        if (name === "title" && inTitle) {
          inTitle = false;
          title = clip(titleText);
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  if (inTitle && title === undefined) title = clip(titleText);

  if (og["og:title"] === undefined && title) og["og:title"] = title;
  if (og["og:description"] === undefined && description) og["og:description"] = description;
  for (const key of ["og:image", "og:url"]) {
    const v = og[key];
    if (v === undefined) continue;
    const abs = absoluteHttpUrl(v, base);
    if (abs) og[key] = abs;
    else delete og[key];
  }
  return og;
}

function clip(s: string): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > MAX_VALUE ? `${t.slice(0, MAX_VALUE - 1)}…` : t;
}

function absoluteHttpUrl(value: string, base: URL): string | null {
  try {
    const u = new URL(value, base);
    return u.protocol === "http:" || u.protocol === "https:" ? u.toString() : null;
  } catch {
    return null;
  }
}
