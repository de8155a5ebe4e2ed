/**
 * The response headers of downloads and thumbnails (spec v1.12 §content-repo, Synapse's
 * media/_base.py): what type to answer with, inline or attachment, and the headers that keep a
 * browser from running uploaded content on the homeserver's origin.
 */

/** Types a browser may show inline; everything else (HTML, SVG, PDF…) is an attachment. */
const INLINE = new Set([
  "text/css",
  "text/plain",
  "text/csv",
  "application/json",
  "application/ld+json",
  "image/jpeg",
  "image/gif",
  "image/png",
  "image/apng",
  "image/webp",
  "image/avif",
  "video/mp4",
  "video/webm",
  "video/ogg",
  "video/quicktime",
  "audio/mp4",
  "audio/webm",
  "audio/aac",
  "audio/mpeg",
  "audio/ogg",
  "audio/wave",
  "audio/wav",
  "audio/x-wav",
  "audio/x-pn-wav",
  "audio/flac",
  "audio/x-flac",
]);

/** Types that get `; charset=UTF-8` when the uploader gave none (as Synapse does). */
const TEXT = new Set([
  "text/css",
  "text/csv",
  "text/html",
  "text/calendar",
  "text/plain",
  "text/javascript",
  "application/json",
  "application/ld+json",
  "application/rtf",
  "image/svg+xml",
  "text/xml",
  "application/xml",
]);

/** Declared types whose bytes file-type can recognise: a declared one of these that sniffs as nothing is wrong. */
const SNIFFABLE_FAMILIES = ["image/", "video/", "audio/"];

const TYPE =
  /^[A-Za-z0-9!#$&^_.+-]{1,127}\/[A-Za-z0-9!#$&^_.+-]{1,127}(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=("[^"\\\r\n\0]*"|[A-Za-z0-9!#$&^_.+-]+))*$/;

/** Whether a client's Content-Type header is a well-formed media type. */
export function isMediaType(s: string): boolean {
  return s.length <= 255 && TYPE.test(s.trim());
}

export function baseType(type: string): string {
  return (type.split(";")[0] ?? "").trim().toLowerCase();
}

/**
 * The type to answer with: the sniffed one when the bytes were recognised; the declared one when
 * sniffing cannot tell (text, JSON…), with a charset for text; octet-stream when the declared type
 * claims a binary family the bytes are not (an encrypted blob labelled image/png) or none was given.
 */
export function servedType(declared: string | null, sniffed: string | null): string {
  if (sniffed) return sniffed;
  if (!declared) return "application/octet-stream";
  const base = baseType(declared);
  if (SNIFFABLE_FAMILIES.some((f) => base.startsWith(f)) && base !== "image/svg+xml") {
    return "application/octet-stream";
  }
  if (TEXT.has(base) && !/;\s*charset=/i.test(declared)) return `${declared}; charset=UTF-8`;
  return declared;
}

/** RFC 2616 token characters: such a name can be written bare. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `inline` only for the allow-list; the file name as a token or RFC 5987 `filename*`. */
export function contentDisposition(type: string, fileName: string | null, forceInline = false): string {
  const kind = forceInline || INLINE.has(baseType(type)) ? "inline" : "attachment";
  if (!fileName) return kind;
  if (TOKEN.test(fileName)) return `${kind}; filename=${fileName}`;
  return `${kind}; filename*=utf-8''${encodeRfc5987(fileName)}`;
}

function encodeRfc5987(s: string): string {
  return encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Headers every download and thumbnail carries (the HTTP front adds `X-Content-Type-Options: nosniff` to every response). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy":
    "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';",
  "X-Content-Security-Policy": "sandbox;",
  "Cross-Origin-Resource-Policy": "cross-origin",
  "Referrer-Policy": "no-referrer",
  "X-Robots-Tag": "noindex, nofollow, noarchive, noimageindex",
  // Media never changes, but a CDN must come back to check the caller's token every time.
  "Cache-Control": "public,max-age=86400,s-maxage=0,proxy-revalidate",
  "Accept-Ranges": "bytes",
};
