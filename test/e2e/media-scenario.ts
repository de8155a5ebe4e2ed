import { createHash } from "node:crypto";
import { decryptAttachment, encryptAttachment, type IEncryptedFile } from "matrix-encrypt-attachment";
import { type MatrixClient, Preset } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait.ts";
import { png } from "../media/helpers.ts";
import { cryptoClient, register } from "./clients.ts";

(logger as unknown as { setLevel(level: string): void }).setLevel("error");
console.debug = () => {};
console.info = () => {};

export type MediaScenarioServer = { baseUrl: string; stop(): Promise<unknown> };

/** GET with the client's access token in the header (authenticated media accepts no other way). */
async function authedGet(client: MatrixClient, url: string): Promise<Response> {
  return fetch(url, { headers: { Authorization: `Bearer ${client.getAccessToken()}` } });
}

const bytesOf = async (r: Response) => Buffer.from(await r.arrayBuffer());
const sha256b64 = (b: Buffer) => createHash("sha256").update(b).digest("base64").replace(/=+$/, "");

/**
 * Media with real clients: alice (matrix-js-sdk, Rust crypto) uploads into an encrypted room —
 * an attachment encrypted with matrix-encrypt-attachment with its encrypted thumbnail, and a plain
 * image with server thumbnails — and bob downloads and thumbnails them over authenticated media.
 */
export function mediaScenario(name: string, start: () => Promise<MediaScenarioServer>): void {
  describe(name, () => {
    let server: MediaScenarioServer;
    let alice: MatrixClient;
    let bob: MatrixClient;
    let roomId: string;

    beforeAll(async () => {
      server = await start();
      alice = await cryptoClient(server.baseUrl, await register(server.baseUrl, "alice"));
      bob = await cryptoClient(server.baseUrl, await register(server.baseUrl, "bob"));
      const created = await alice.createRoom({
        preset: Preset.PrivateChat,
        invite: [bob.getUserId()!],
        initial_state: [
          { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
        ],
      });
      roomId = created.room_id;
      await waitFor("bob's invite", () => bob.getRoom(roomId)?.getMyMembership() === "invite");
      await bob.joinRoom(roomId);
      await waitFor(
        "alice to see bob join",
        () => alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.membership === "join",
      );
    }, 120_000);

    afterAll(async () => {
      alice?.stopClient();
      bob?.stopClient();
      await server?.stop();
    });

    it("advertises the upload limit to the client", async () => {
      const config = await alice.getMediaConfig(true);
      expect(config["m.upload.size"]).toBe(50 * 1024 * 1024);
    });

    it("carries an encrypted attachment and its encrypted thumbnail through an encrypted room", async () => {
      const image = await png(640, 480);
      const thumbnail = await sharp(image).resize(96, 72).png().toBuffer();
      const file = await encryptAttachment(new Uint8Array(image).buffer);
      const thumb = await encryptAttachment(new Uint8Array(thumbnail).buffer);
      const up = await alice.uploadContent(new Uint8Array(file.data), { type: "application/octet-stream" });
      const upThumb = await alice.uploadContent(new Uint8Array(thumb.data), {
        type: "application/octet-stream",
      });
      await alice.sendMessage(roomId, {
        msgtype: "m.image",
        body: "photo.png",
        file: { ...file.info, url: up.content_uri, v: "v2" },
        info: {
          mimetype: "image/png",
          w: 640,
          h: 480,
          size: image.length,
          thumbnail_file: { ...thumb.info, url: upThumb.content_uri, v: "v2" },
          thumbnail_info: { mimetype: "image/png", w: 96, h: 72, size: thumbnail.length },
        },
      } as never);
      let content: Record<string, unknown> = {};
      await waitFor("bob to decrypt the m.image", () => {
        const ev = bob
          .getRoom(roomId)
          ?.getLiveTimeline()
          .getEvents()
          .find((e) => e.getContent().msgtype === "m.image" && e.getContent().body === "photo.png");
        content = ev?.getContent() ?? {};
        return Boolean(content.file);
      });
      const info = content.file as IEncryptedFile & { url: string };
      const url = bob.mxcUrlToHttp(info.url, undefined, undefined, undefined, false, true, true);
      expect(url).toContain("/_matrix/client/v1/media/download/");
      const r = await authedGet(bob, url!);
      expect(r.status).toBe(200);
      const ciphertext = await bytesOf(r);
      // The server kept the ciphertext byte for byte: the sender's hash still matches.
      expect(sha256b64(ciphertext)).toBe(info.hashes?.sha256);
      const plain = Buffer.from(await decryptAttachment(new Uint8Array(ciphertext).buffer, info));
      expect(plain.equals(image)).toBe(true);
      const tInfo = (content.info as { thumbnail_file: IEncryptedFile & { url: string } }).thumbnail_file;
      const tr = await authedGet(
        bob,
        bob.mxcUrlToHttp(tInfo.url, undefined, undefined, undefined, false, true, true)!,
      );
      const tPlain = Buffer.from(await decryptAttachment(new Uint8Array(await bytesOf(tr)).buffer, tInfo));
      expect(await sharp(tPlain).metadata()).toMatchObject({ width: 96, height: 72 });
      // Ciphertext is not an image: the server has no thumbnail of it.
      const serverThumb = await authedGet(
        bob,
        bob.mxcUrlToHttp(info.url, 32, 32, "crop", false, true, true)!,
      );
      expect(serverThumb.status).toBe(400);
    });

    it("lets the other client download an image and its server thumbnails", async () => {
      const image = await png(1024, 768);
      const up = await alice.uploadContent(new Uint8Array(image), { type: "image/png", name: "view.png" });
      await alice.sendMessage(roomId, {
        msgtype: "m.image",
        body: "view.png",
        url: up.content_uri,
        info: { mimetype: "image/png", w: 1024, h: 768, size: image.length, thumbnail_url: up.content_uri },
      } as never);
      let mxc = "";
      await waitFor("bob to see the plain m.image", () => {
        const ev = bob
          .getRoom(roomId)
          ?.getLiveTimeline()
          .getEvents()
          .find((e) => e.getContent().body === "view.png");
        mxc = (ev?.getContent().url as string | undefined) ?? "";
        return mxc !== "";
      });
      const full = await authedGet(
        bob,
        bob.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, true, true)!,
      );
      expect((await bytesOf(full)).equals(image)).toBe(true);
      expect(full.headers.get("content-disposition")).toBe("inline; filename=view.png");
      const t = await authedGet(bob, bob.mxcUrlToHttp(mxc, 320, 240, "scale", false, true, true)!);
      expect(t.status).toBe(200);
      expect(await sharp(await bytesOf(t)).metadata()).toMatchObject({ width: 320, height: 240 });
      const c = await authedGet(bob, bob.mxcUrlToHttp(mxc, 96, 96, "crop", false, true, true)!);
      expect(await sharp(await bytesOf(c)).metadata()).toMatchObject({ width: 96, height: 96 });
    });

    it("sets an avatar from an upload", async () => {
      const up = await bob.uploadContent(new Uint8Array(await png(128, 128)), { type: "image/png" });
      await bob.setAvatarUrl(up.content_uri);
      const profile = await alice.getProfileInfo(bob.getUserId()!);
      expect(profile.avatar_url).toBe(up.content_uri);
      const r = await authedGet(
        alice,
        alice.mxcUrlToHttp(up.content_uri, 32, 32, "crop", false, true, true)!,
      );
      expect(await sharp(await bytesOf(r)).metadata()).toMatchObject({ width: 32, height: 32 });
    });
  });
}
