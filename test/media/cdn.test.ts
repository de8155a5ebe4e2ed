import { describe, expect, it } from "vitest";
import { signedUrl, signPath, verifySigned } from "../../companion-services/media/cdn.ts";

const secret = "a-cdn-secret-of-some-length";
const cdn = { baseUrl: "https://cdn.example.org", secret, ttlSeconds: 600 };
const media = "/_nova/v1/cdn/media/test.nova/AbCdEf123";
const thumb = "/_nova/v1/cdn/media/test.nova/AbCdEf123/thumbnail/320x240/crop";
const hls = "/_nova/v1/cdn/videos/vid42/hls/720p/segment-00001.ts";
const now = 1_700_000_000_000;

function parts(url: string): { path: string; query: URLSearchParams } {
  const u = new URL(url);
  return { path: u.pathname, query: u.searchParams };
}

describe("CDN signed URLs", () => {
  it.each([media, thumb, hls])("signs and verifies %s", (path) => {
    const url = signedUrl(cdn, path, now);
    expect(url.startsWith(`${cdn.baseUrl}${path}?expires=${now / 1000 + 600}&sig=`)).toBe(true);
    const { path: p, query } = parts(url);
    expect(p).toBe(path);
    expect(verifySigned(secret, p, query, now)).toBe("ok");
    expect(verifySigned(secret, p, query, now + 599_999)).toBe("ok");
  });

  it("is HMAC-SHA256 over path, newline, expiry, in base64url", async () => {
    const { createHmac } = await import("node:crypto");
    const expected = createHmac("sha256", secret).update(`${media}\n1700000600`).digest("base64url");
    expect(signPath(secret, media, 1_700_000_600)).toBe(expected);
    expect(expected).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("expires from the expires second on", () => {
    const { path, query } = parts(signedUrl(cdn, media, now));
    expect(verifySigned(secret, path, query, now + 600_000)).toBe("expired");
    expect(verifySigned(secret, path, query, now + 86_400_000)).toBe("expired");
  });

  it("refuses a tampered path: another media id, another thumbnail size, another segment", () => {
    const { query } = parts(signedUrl(cdn, media, now));
    expect(verifySigned(secret, "/_nova/v1/cdn/media/test.nova/AbCdEf124", query, now)).toBe("forged");
    const t = parts(signedUrl(cdn, thumb, now));
    expect(verifySigned(secret, thumb.replace("320x240", "3200x2400"), t.query, now)).toBe("forged");
    const h = parts(signedUrl(cdn, hls, now));
    expect(verifySigned(secret, hls.replace("00001", "00002"), h.query, now)).toBe("forged");
  });

  it("refuses a tampered signature or expiry", () => {
    const { path, query } = parts(signedUrl(cdn, media, now));
    const sig = query.get("sig")!;
    const flipped = new URLSearchParams(query);
    flipped.set("sig", (sig[0] === "A" ? "B" : "A") + sig.slice(1));
    expect(verifySigned(secret, path, flipped, now)).toBe("forged");
    const later = new URLSearchParams(query);
    later.set("expires", String(Number(query.get("expires")) + 3600));
    expect(verifySigned(secret, path, later, now)).toBe("forged");
    const padded = new URLSearchParams(query);
    padded.set("expires", `0${query.get("expires")}`);
    expect(verifySigned(secret, path, padded, now)).toBe("forged");
  });

  it("calls malformed or repeated parameters forged", () => {
    const { path, query } = parts(signedUrl(cdn, media, now));
    for (const [k, v] of [
      ["sig", "short"],
      ["sig", `${query.get("sig")}==`],
      ["sig", "!".repeat(43)],
      ["expires", "soon"],
      ["expires", "-1"],
      ["expires", "1e12"],
    ] as const) {
      const q = new URLSearchParams(query);
      q.set(k, v);
      expect(verifySigned(secret, path, q, now), `${k}=${v}`).toBe("forged");
    }
    const twice = new URLSearchParams(query);
    twice.append("sig", query.get("sig")!);
    expect(verifySigned(secret, path, twice, now)).toBe("forged");
  });

  it("answers absent when a parameter is missing", () => {
    const { path, query } = parts(signedUrl(cdn, media, now));
    expect(verifySigned(secret, path, new URLSearchParams(), now)).toBe("absent");
    expect(verifySigned(secret, path, new URLSearchParams({ expires: query.get("expires")! }), now)).toBe(
      "absent",
    );
    expect(verifySigned(secret, path, new URLSearchParams({ sig: query.get("sig")! }), now)).toBe("absent");
  });

  it("refuses a URL signed with another secret", () => {
    const { path, query } = parts(signedUrl({ ...cdn, secret: "another-secret-entirely" }, media, now));
    expect(verifySigned(secret, path, query, now)).toBe("forged");
  });
});
