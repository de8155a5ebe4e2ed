import type { types as ms } from "mediasoup";
import * as sdpTransform from "sdp-transform";
import { type MediaKind, SfuInputError, type TransportState } from "../sfu.ts";

// The mediasoup SFU's translation between the port's SDP offers and answers and mediasoup's
// parameters (ICE, DTLS, RTP), as mediasoup-client does in a browser (calls/sfu/mediasoup.ts
// holds the worker, router, transports, producers and consumers).

export type Media = sdpTransform.MediaDescription;

const SUPPORTED_EXTENSIONS = new Set([
  "urn:ietf:params:rtp-hdrext:sdes:mid",
  "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
]);

export function parseSdp(sdp: string, what: string): sdpTransform.SessionDescription {
  if (!/^v=0\r?\n/.test(sdp)) throw new SfuInputError(`${what} is not an SDP (must start with v=0)`);
  let parsed: sdpTransform.SessionDescription;
  try {
    parsed = sdpTransform.parse(sdp);
  } catch (e) {
    throw new SfuInputError(`${what} does not parse: ${(e as Error).message}`);
  }
  if (!parsed.media?.some((m) => m.type === "audio" || m.type === "video")) {
    throw new SfuInputError(`${what} has no audio or video m-section`);
  }
  return parsed;
}

/** The remote DTLS parameters of an SDP (session- or media-level fingerprint and setup). */
export function remoteDtls(s: sdpTransform.SessionDescription): ms.DtlsParameters {
  const m = s.media.find((x) => x.fingerprint) ?? s.media[0]!;
  const fp = m.fingerprint ?? s.fingerprint;
  if (!fp) throw new SfuInputError("SDP has no DTLS fingerprint");
  const setup = m.setup ?? "actpass";
  // The remote's role: an offerer's actpass lets the SFU be the DTLS server (the remote a client).
  const role: ms.DtlsRole = setup === "passive" ? "server" : "client";
  return { role, fingerprints: [{ algorithm: fp.type as ms.FingerprintAlgorithm, value: fp.hash }] };
}

/** RTP parameters of what a client sends on one m-section, restricted to the router's codecs. */
export function producerRtpParameters(m: Media, cname: string | undefined): ms.RtpParameters {
  const wanted = m.type === "audio" ? "opus" : "vp8";
  const rtp = m.rtp.find((r) => r.codec.toLowerCase() === wanted);
  if (!rtp) throw new SfuInputError(`m-section ${m.mid ?? "?"} offers no ${wanted}`);
  const fmtp = m.fmtp.find((f) => f.payload === rtp.payload)?.config ?? "";
  const parameters = Object.fromEntries(
    fmtp
      .split(";")
      .filter(Boolean)
      .map((kv) => {
        const [k, v] = kv.split("=");
        return [k!.trim(), Number.isNaN(Number(v)) ? (v ?? "") : Number(v)];
      }),
  );
  const rtcpFeedback = (m.rtcpFb ?? [])
    .filter((f) => String(f.payload) === String(rtp.payload))
    .map((f) => ({ type: f.type, parameter: f.subtype ?? "" }));
  // The primary SSRC: the first one that is not the second member of an FID (RTX) group.
  const rtx = new Set(
    (m.ssrcGroups ?? []).filter((g) => g.semantics === "FID").map((g) => Number(g.ssrcs.split(" ")[1])),
  );
  const ssrc = (m.ssrcs ?? []).map((s) => Number(s.id)).find((id) => !rtx.has(id));
  const mid = m.mid === undefined ? undefined : String(m.mid);
  // Simulcast: one encoding per sending rid (mediasoup then picks a layer per consumer).
  const rids = (m.rids ?? []).filter((r) => r.direction === "send").map((r) => ({ rid: String(r.id) }));
  return {
    mid,
    codecs: [
      {
        mimeType: `${m.type}/${rtp.codec}`,
        payloadType: rtp.payload,
        clockRate: rtp.rate ?? (m.type === "audio" ? 48000 : 90000),
        ...(m.type === "audio" ? { channels: Number(rtp.encoding ?? 2) } : {}),
        parameters,
        rtcpFeedback,
      },
    ],
    headerExtensions: (m.ext ?? [])
      .filter((e) => SUPPORTED_EXTENSIONS.has(e.uri))
      .map((e) => ({ uri: e.uri as ms.RtpHeaderExtensionUri, id: e.value })),
    encodings: rids.length > 0 ? rids : ssrc === undefined ? [{}] : [{ ssrc }],
    rtcp: { cname, reducedSize: true },
  };
}

/** Session and transport lines common to the SFU's SDPs (mediasoup is ICE-lite). */
export function sessionSdp(t: ms.WebRtcTransport): sdpTransform.SessionDescription {
  return {
    version: 0,
    origin: {
      username: "nova",
      sessionId: Date.now(),
      sessionVersion: 1,
      netType: "IN",
      ipVer: 4,
      address: "0.0.0.0",
    },
    name: "-",
    timing: { start: 0, stop: 0 },
    icelite: "ice-lite",
    media: [],
    groups: [],
    fingerprint: {
      type: t.dtlsParameters.fingerprints.find((f) => f.algorithm === "sha-256")?.algorithm ?? "sha-256",
      hash: t.dtlsParameters.fingerprints.find((f) => f.algorithm === "sha-256")?.value ?? "",
    },
  } as sdpTransform.SessionDescription;
}

export function mediaSection(
  t: ms.WebRtcTransport,
  kind: MediaKind,
  mid: string,
  rtp: ms.RtpParameters,
  direction: "sendonly" | "recvonly" | "inactive",
  setup: "actpass" | "active" | "passive",
): Media {
  const codecs = rtp.codecs.filter((c) => !c.mimeType.toLowerCase().endsWith("/rtx"));
  const m = {
    type: kind,
    port: 7,
    protocol: "UDP/TLS/RTP/SAVPF",
    payloads: codecs.map((c) => c.payloadType).join(" "),
    connection: { version: 4, ip: "127.0.0.1" },
    mid,
    direction,
    setup,
    iceUfrag: t.iceParameters.usernameFragment,
    icePwd: t.iceParameters.password,
    candidates: t.iceCandidates.map((c) => ({
      foundation: c.foundation,
      component: 1,
      transport: c.protocol,
      priority: c.priority,
      ip: c.address,
      port: c.port,
      type: c.type,
    })),
    endOfCandidates: "end-of-candidates",
    rtcpMux: "rtcp-mux",
    rtp: codecs.map((c) => ({
      payload: c.payloadType,
      codec: c.mimeType.split("/")[1]!,
      rate: c.clockRate,
      ...(c.channels ? { encoding: c.channels } : {}),
    })),
    fmtp: codecs
      .filter((c) => c.parameters && Object.keys(c.parameters).length > 0)
      .map((c) => ({
        payload: c.payloadType,
        config: Object.entries(c.parameters ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(";"),
      })),
    rtcpFb: codecs.flatMap((c) =>
      (c.rtcpFeedback ?? []).map((f) => ({
        payload: c.payloadType,
        type: f.type,
        ...(f.parameter ? { subtype: f.parameter } : {}),
      })),
    ),
    ext: (rtp.headerExtensions ?? []).map((e) => ({ value: e.id, uri: e.uri })),
    ssrcs:
      direction === "sendonly"
        ? (rtp.encodings ?? []).flatMap((e) =>
            e.ssrc === undefined
              ? []
              : [
                  { id: e.ssrc, attribute: "cname", value: rtp.rtcp?.cname ?? "nova" },
                  { id: e.ssrc, attribute: "msid", value: `nova-${mid} nova-${mid}-${kind}` },
                ],
          )
        : [],
  };
  return m as unknown as Media;
}

export function mapDtls(s: ms.DtlsState): TransportState {
  switch (s) {
    case "connected":
      return "connected";
    case "connecting":
      return "connecting";
    case "failed":
      return "failed";
    case "closed":
      return "closed";
    default:
      return "new";
  }
}
