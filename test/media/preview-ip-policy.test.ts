import { describe, expect, it } from "vitest";
import { checkedAddresses, pinnedLookup } from "../../companion-services/media/preview/fetch.ts";
import {
  blockReason,
  isBlockedAddress,
  isIpLiteral,
} from "../../companion-services/media/preview/ip-policy.ts";
import { MatrixError } from "../../companion-services/platform/errors.ts";

const strict = { allowLoopback: false };
const loose = { allowLoopback: true };

describe("the preview address policy", () => {
  it.each([
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["192.168.0.1", "private"],
    ["127.0.0.1", "loopback"],
    ["127.9.9.9", "loopback"],
    ["169.254.169.254", "linkLocal"],
    ["100.64.0.1", "carrierGradeNat"],
    ["0.0.0.0", "unspecified"],
    ["255.255.255.255", "broadcast"],
    ["224.0.0.1", "multicast"],
    ["240.0.0.1", "reserved"],
    ["192.0.2.1", "reserved"],
    ["198.18.0.1", "reserved"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "linkLocal"],
    ["fe80::1%eth0", "linkLocal"],
    ["fd12:3456::1", "uniqueLocal"],
    ["ff02::1", "multicast"],
    ["2001:db8::1", "reserved"],
    ["64:ff9b::a00:1", "rfc6052"],
    ["2002:a00:1::", "6to4"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:169.254.169.254", "linkLocal"],
    ["[::1]", "loopback"],
    ["not-an-ip", "unparseable"],
  ])("blocks %s (%s)", (address, reason) => {
    expect(blockReason(address, strict)).toBe(reason);
    expect(isBlockedAddress(address, strict)).toBe(true);
  });

  it.each([
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
  ])("allows the public address %s", (address) => {
    expect(blockReason(address, strict)).toBeNull();
  });

  it("lets loopback through only when allowed, and nothing else private", () => {
    expect(isBlockedAddress("127.0.0.1", loose)).toBe(false);
    expect(isBlockedAddress("::1", loose)).toBe(false);
    expect(isBlockedAddress("::ffff:127.0.0.1", loose)).toBe(false);
    expect(isBlockedAddress("10.0.0.1", loose)).toBe(true);
    expect(isBlockedAddress("169.254.169.254", loose)).toBe(true);
    expect(isBlockedAddress("fd00::1", loose)).toBe(true);
  });

  it("tells IP literals from host names as URLs spell them", () => {
    expect(isIpLiteral("127.0.0.1")).toBe(true);
    expect(isIpLiteral("[::1]")).toBe(true);
    expect(isIpLiteral(new URL("http://0x7f.1/").hostname)).toBe(true);
    expect(isIpLiteral("example.org")).toBe(false);
    expect(isIpLiteral("1.2.3.4.example")).toBe(false);
  });
});

describe("checked addresses and the pinned lookup", () => {
  it("refuses a host when any one of its addresses is blocked, and never resolves a literal", async () => {
    const resolve = async () => [
      { address: "8.8.8.8", family: 4 },
      { address: "::1", family: 6 },
    ];
    await expect(checkedAddresses("mixed.example", strict, resolve)).rejects.toMatchObject({ status: 403 });
    expect(await checkedAddresses("mixed.example", loose, resolve)).toHaveLength(2);
    const never = async () => {
      throw new Error("resolved a literal");
    };
    await expect(checkedAddresses("10.0.0.1", strict, never)).rejects.toBeInstanceOf(MatrixError);
    expect(await checkedAddresses("[2606:4700:4700::1111]", strict, never)).toEqual([
      { address: "2606:4700:4700::1111", family: 6 },
    ]);
  });

  it("answers only with the checked addresses, whatever name it is asked", async () => {
    const lookup = pinnedLookup([
      { address: "8.8.8.8", family: 4 },
      { address: "2606:4700:4700::1111", family: 6 },
    ]);
    const ask = (options: { all?: boolean; family?: number }) =>
      new Promise<unknown[]>((resolve) =>
        lookup("rebound.example", options, (err, address, family) =>
          resolve([err?.code ?? null, address, family]),
        ),
      );
    expect(await ask({ all: true })).toEqual([
      null,
      [
        { address: "8.8.8.8", family: 4 },
        { address: "2606:4700:4700::1111", family: 6 },
      ],
      undefined,
    ]);
    expect(await ask({ family: 6 })).toEqual([null, "2606:4700:4700::1111", 6]);
    expect(await ask({})).toEqual([null, "8.8.8.8", 4]);
    expect((await ask({ family: 4, all: true }))[1]).toEqual([{ address: "8.8.8.8", family: 4 }]);
  });
});
