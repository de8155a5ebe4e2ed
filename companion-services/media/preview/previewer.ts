import type { Kysely } from "kysely";
import type { Metadata } from "sharp";
import { invalidParam, MatrixError } from "../../platform/errors.ts";
import type { Logger } from "../../platform/logger.ts";
import type { MediaLibrary } from "../library.ts";
import type { MediaTables } from "../tables.ts";
import { loadSharp } from "../thumbnails/sharp.ts";
import { type FetchLimits, guardedFetch, type Resolver, systemResolver } from "./fetch.ts";
import { UrlPreviewsRepository } from "./url-previews.repository.ts";

export type UrlPreviewSettings = {
  /** Let previews reach loopback addresses (tests only); every other private range stays blocked. */
  allowLoopback: boolean;
  /** Bytes read of a page or an image at most. */
  maxBytes: number;
  /** Deadline of one fetch (DNS, redirects, headers and body together), ms. */
  timeoutMs: number;
  /** How long a preview is answered from the cache, ms; default 1 h (Synapse's). */
  cacheTtlMs?: number;
};

export type UrlPreviewerDeps = {
  db: Kysely<MediaTables>;
  library: MediaLibrary;
  logger: Logger;
  settings: UrlPreviewSettings;
  /** Host name resolution; the system resolver unless a test swaps it. */
  resolve?: Resolver;
};

const HOUR = 3600_000;
const HTML_TYPES = new Set(["text/html", "application/xhtml+xml"]);

/**
 * `GET /_matrix/client/v1/media/preview_url`: the OpenGraph object of a URL, its `og:image`
 * re-hosted as local media (mxc URI, `matrix:image:size`, type, width, height).
 *
 * Pages over `maxBytes` are truncated and what was read is parsed (the tags live in `<head>`);
 * images over it are refused, since half an image is none. A page that is neither HTML nor an
 * image previews as `{}`. Previews are cached per URL (without fragment) for `cacheTtlMs`; `ts`
 * is accepted and a fresh cached preview answers it whatever its age relative to `ts` (the spec
 * lets the server answer with a newer one). Concurrent requests for one URL share one fetch.
 * URLs are never logged.
 */
export class UrlPreviewer {
  private readonly repo: UrlPreviewsRepository;
  private readonly ttlMs: number;
  private readonly limits: FetchLimits;
  private readonly resolve: Resolver;
  private readonly inFlight = new Map<string, Promise<Record<string, unknown>>>();

  constructor(private readonly deps: UrlPreviewerDeps) {
    this.repo = new UrlPreviewsRepository(deps.db);
    this.ttlMs = deps.settings.cacheTtlMs ?? HOUR;
    this.limits = {
      policy: { allowLoopback: deps.settings.allowLoopback },
      maxBytes: deps.settings.maxBytes,
      timeoutMs: deps.settings.timeoutMs,
      maxRedirects: 5,
    };
    this.resolve = deps.resolve ?? systemResolver;
  }

  async preview(url: string, userId: string, _ts?: number): Promise<Record<string, unknown>> {
    const target = parseTarget(url);
    const key = target.toString();
    const cached = await this.repo.fresh(key, Date.now());
    if (cached) return cached.og;
    const running = this.inFlight.get(key);
    if (running) return running;
    const p = this.fetchAndCache(target, key, userId).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  /** Drops cache rows expired by `now` (for a periodic job); returns how many. */
  async pruneExpired(now = Date.now()): Promise<number> {
    return this.repo.deleteExpired(now);
  }

  private async fetchAndCache(target: URL, key: string, userId: string): Promise<Record<string, unknown>> {
    let og: Record<string, unknown>;
    try {
      og = await this.build(target, userId);
    } catch (err) {
      this.deps.logger.debug(
        { status: err instanceof MatrixError ? err.status : undefined },
        "url preview: fetch failed",
      );
      throw err;
    }
    const now = Date.now();
    await this.repo.put(key, og, now, now + this.ttlMs);
    return og;
  }

  private async build(target: URL, userId: string): Promise<Record<string, unknown>> {
    const page = await guardedFetch(target, this.limits, this.resolve);
    const type = mediaType(page.contentType, page.bytes);
    if (type.startsWith("image/")) {
      if (page.truncated) return {};
      return (await this.imageFields(page.bytes, type, userId)) ?? {};
    }
    if (!HTML_TYPES.has(type)) return {};

    // htmlparser2 and its entities/domutils (~40 files) load with the first HTML page previewed.
    const { decodeHtml, parseOpenGraph } = await import("./html.ts");
    const og: Record<string, unknown> = parseOpenGraph(decodeHtml(page.contentType, page.bytes), page.url);
    const imageUrl = typeof og["og:image"] === "string" ? og["og:image"] : undefined;
    for (const k of Object.keys(og)) if (k.startsWith("og:image")) delete og[k];
    if (imageUrl) Object.assign(og, await this.rehost(imageUrl, userId));
    return og;
  }

  /** The `og:image*` fields of a remote image once stored locally; {} when it cannot be had. */
  private async rehost(imageUrl: string, userId: string): Promise<Record<string, unknown>> {
    try {
      const img = await guardedFetch(
        new URL(imageUrl),
        { ...this.limits, whole: true, accept: "image/*" },
        this.resolve,
      );
      return (await this.imageFields(img.bytes, mediaType(img.contentType, img.bytes), userId)) ?? {};
    } catch (err) {
      this.deps.logger.debug(
        { status: err instanceof MatrixError ? err.status : undefined },
        "url preview: og:image not fetched",
      );
      return {};
    }
  }

  private async imageFields(
    bytes: Buffer,
    declaredType: string,
    userId: string,
  ): Promise<Record<string, unknown> | null> {
    let meta: Metadata;
    try {
      meta = await (await loadSharp())(bytes).metadata();
    } catch {
      return null;
    }
    const contentType = declaredType.startsWith("image/")
      ? declaredType
      : meta.format
        ? `image/${meta.format}`
        : "application/octet-stream";
    try {
      const { mxc } = await this.deps.library.storeUpload({ userId, bytes, contentType });
      const out: Record<string, unknown> = {
        "og:image": mxc,
        "og:image:type": contentType,
        "matrix:image:size": bytes.length,
      };
      if (meta.width) out["og:image:width"] = meta.width;
      if (meta.height) out["og:image:height"] = meta.height;
      return out;
    } catch (err) {
      this.deps.logger.debug(
        { status: err instanceof MatrixError ? err.status : undefined },
        "url preview: image not stored",
      );
      return null;
    }
  }
}

/** The URL to preview, without its fragment; 400 M_INVALID_PARAM unless it is http(s). */
export function parseTarget(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalidParam("url is not a valid URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw invalidParam("url must be http or https");
  if (u.username || u.password) throw invalidParam("url must not carry credentials");
  u.hash = "";
  return u;
}

/** The body's media type, from the header, else sniffed for HTML. */
function mediaType(contentType: string | null, bytes: Buffer): string {
  const declared = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (declared) return declared;
  const start = bytes.subarray(0, 256).toString("latin1").trimStart().toLowerCase();
  return start.startsWith("<!doctype html") || start.startsWith("<html") ? "text/html" : "";
}
