import { describe, expect, it } from "vitest";
import { isVp8Keyframe } from "../../calls/sfu/werift-media.ts";

describe("VP8 keyframe detection (simulcast switching point)", () => {
  it("reads the payload descriptor and the VP8 header's P bit", () => {
    expect(isVp8Keyframe(Buffer.from([0x10, 0x00]))).toBe(true); // S=1, PID=0, P=0
    expect(isVp8Keyframe(Buffer.from([0x10, 0x01]))).toBe(false); // interframe
    expect(isVp8Keyframe(Buffer.from([0x00, 0x00]))).toBe(false); // not a partition start
    expect(isVp8Keyframe(Buffer.from([0x11, 0x00]))).toBe(false); // partition 1
    // X=1, I=1 with a 15-bit PictureID (M bit), then the VP8 header.
    expect(isVp8Keyframe(Buffer.from([0x90, 0x80, 0x81, 0x23, 0x00]))).toBe(true);
    expect(isVp8Keyframe(Buffer.from([0x90, 0x80, 0x81, 0x23, 0x01]))).toBe(false);
    // X=1 with I (7-bit), L and T/K: four descriptor bytes before the header.
    expect(isVp8Keyframe(Buffer.from([0x90, 0xe0, 0x05, 0x07, 0x20, 0x00]))).toBe(true);
    expect(isVp8Keyframe(Buffer.from([0x90, 0x80]))).toBe(false); // truncated
  });
});
