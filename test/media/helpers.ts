import sharp from "sharp";
import type { TestServer } from "../helpers/server.ts";

/** A PNG of the given size (a gradient, so resizes are not trivially equal). */
export async function png(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 255) / width;
      raw[i + 1] = (y * 255) / height;
      raw[i + 2] = 128;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

export async function jpegWithExif(width: number, height: number, orientation: number): Promise<Buffer> {
  return sharp(await png(width, height))
    .jpeg()
    .withMetadata({ orientation, exif: { IFD0: { Copyright: "nova-test" }, IFD3: { GPSLatitudeRef: "N" } } })
    .toBuffer();
}

/** An animated GIF of `frames` frames. */
export async function animatedGif(width: number, height: number, frames: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * frames * 4);
  for (let f = 0; f < frames; f++) {
    for (let i = 0; i < width * height; i++) {
      const o = (f * width * height + i) * 4;
      raw[o] = (f * 80) % 256;
      raw[o + 1] = 100;
      raw[o + 2] = 200;
      raw[o + 3] = 255;
    }
  }
  return sharp(raw, { raw: { width, height: height * frames, channels: 4, pageHeight: height } })
    .gif()
    .toBuffer();
}

export type Fetched = { status: number; headers: Headers; bytes: Buffer; json: Record<string, unknown> };

export async function http(
  server: TestServer,
  method: string,
  path: string,
  opts: { token?: string; body?: Buffer | string; headers?: Record<string, string> } = {},
): Promise<Fetched> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  const body =
    typeof opts.body === "string" || opts.body === undefined ? opts.body : new Uint8Array(opts.body);
  const res = await fetch(server.baseUrl + path, { method, headers, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: Record<string, unknown> = {};
  if (res.headers.get("content-type")?.includes("json")) {
    try {
      json = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    } catch {
      json = {};
    }
  }
  return { status: res.status, headers: res.headers, bytes, json };
}

/** Uploads bytes; returns the media id and mxc. */
export async function upload(
  server: TestServer,
  token: string,
  body: Buffer,
  opts: { contentType?: string; filename?: string } = {},
): Promise<{ mxc: string; mediaId: string; serverName: string }> {
  const q = opts.filename !== undefined ? `?filename=${encodeURIComponent(opts.filename)}` : "";
  const headers: Record<string, string> = {};
  if (opts.contentType) headers["Content-Type"] = opts.contentType;
  const r = await http(server, "POST", `/_matrix/media/v3/upload${q}`, { token, body, headers });
  if (r.status !== 200) throw new Error(`upload failed: ${r.status} ${JSON.stringify(r.json)}`);
  const mxc = r.json.content_uri as string;
  const [, serverName, mediaId] = /^mxc:\/\/([^/]+)\/(.+)$/.exec(mxc) ?? [];
  return { mxc, mediaId: mediaId ?? "", serverName: serverName ?? "" };
}
