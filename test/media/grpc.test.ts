import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMediaGrpc } from "../../companion-services/media/grpc.ts";
import { GrpcMediaClient } from "../../companion-services/media/grpc-client.ts";
import { createMedia, type Media } from "../../companion-services/media/index.ts";
import { loadConfig } from "../../server/config.ts";
import { openFresh, silentLogger } from "../platform/helpers.ts";
import { png } from "./helpers.ts";

/** Media's gRPC API as another service calls it: GetMedia, GetMediaBatch, GetVideo, GetReel. */
describe("media over gRPC", () => {
  let fresh: Awaited<ReturnType<typeof openFresh>>;
  let media: Media;
  let rpc: Awaited<ReturnType<typeof startMediaGrpc>>;
  let client: GrpcMediaClient;

  beforeAll(async () => {
    fresh = await openFresh(["media"]);
    const config = loadConfig({
      NOVA_DATA_DIR: "memory://",
      NOVA_SERVER_NAME: "media.test",
      NOVA_MEDIA_TRANSCODE_WORKERS: "0",
    });
    media = await createMedia({
      database: fresh.databases.get("media"),
      settings: config.media,
      serverName: "media.test",
      dataDir: "memory://",
      uploadLimit: config.rateLimits.media_upload,
      logger: silentLogger,
    });
    rpc = await startMediaGrpc(media.service, silentLogger, "127.0.0.1:0");
    client = new GrpcMediaClient({ address: `127.0.0.1:${rpc.port}` });
  });
  afterAll(async () => {
    client?.close();
    await rpc?.close();
    await media?.stop();
    await fresh?.close();
  });

  it("describes an upload, a batch, and a pending id", async () => {
    const image = await png(40, 30);
    const a = await media.service.storeUpload({
      userId: "@a:media.test",
      bytes: image,
      contentType: "image/png",
      uploadName: "a.png",
    });
    const pending = await media.service.create("@a:media.test");
    const got = await client.getMedia(a.mxc);
    expect(got).toMatchObject({
      mxc: a.mxc,
      serverName: "media.test",
      userId: "@a:media.test",
      contentType: "image/png",
      uploadName: "a.png",
      bytes: image.length,
      width: 40,
      height: 30,
      pending: false,
    });
    expect(await client.getMedia("mxc://media.test/UnknownMediaId")).toBeNull();
    expect(await client.getMedia("mxc://elsewhere.org/abc")).toBeNull();
    const batch = await client.getMediaBatch([a.mxc, pending.mxc, "mxc://media.test/Nope"]);
    expect(batch.map((m) => [m.mxc, m.pending]).sort()).toEqual(
      [
        [a.mxc, false],
        [pending.mxc, true],
      ].sort(),
    );
  });

  it("answers unknown videos and reels with nothing, and refuses malformed requests", async () => {
    expect(await client.getVideo("00000000-0000-4000-8000-000000000000")).toBeNull();
    expect(await client.getReel("00000000-0000-4000-8000-000000000000")).toBeNull();
    await expect(client.getVideo("not-a-uuid")).rejects.toMatchObject({ status: 400 });
    await expect(client.getMedia("https://example.org/x")).rejects.toMatchObject({ status: 400 });
  });
});
