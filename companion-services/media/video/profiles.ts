/**
 * The HLS rendition ladder. A profile is named by the frame's short side (360p of a portrait reel
 * is 360 wide), so vertical video gets the same ladder as landscape.
 */
export type Profile = {
  name: string;
  shortSide: number;
  videoKbps: number;
  audioKbps: number;
};

export const PROFILES: readonly Profile[] = [
  { name: "360p", shortSide: 360, videoKbps: 800, audioKbps: 96 },
  { name: "720p", shortSide: 720, videoKbps: 2800, audioKbps: 128 },
  { name: "1080p", shortSide: 1080, videoKbps: 5000, audioKbps: 128 },
];

export const PROFILE_NAMES: ReadonlySet<string> = new Set(PROFILES.map((p) => p.name));

export type Rendition = Profile & { width: number; height: number; bandwidth: number };

function even(n: number): number {
  return Math.max(2, Math.round(n / 2) * 2);
}

/**
 * The renditions of a source of `width`×`height` (as displayed): every profile up to the source's
 * short side, and 360p always (an upscale for a tiny source, so every video has one rendition all
 * players can take). Aspect ratio kept, both sides even (H.264 4:2:0 needs it).
 */
export function planRenditions(width: number, height: number, audio: boolean): Rendition[] {
  const short = Math.min(width, height);
  const chosen = PROFILES.filter((p, i) => i === 0 || p.shortSide <= short);
  return chosen.map((p) => {
    const scale = p.shortSide / short;
    const w = width <= height ? p.shortSide : even(width * scale);
    const h = width <= height ? even(height * scale) : p.shortSide;
    const bandwidth = (p.videoKbps + (audio ? p.audioKbps : 0)) * 1000;
    return { ...p, width: w, height: h, bandwidth };
  });
}
