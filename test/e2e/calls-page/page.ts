/**
 * The browser side of the three-browser call test: joins a room's call with Nova's client
 * libraries (signaling as request frames on the sync WebSocket), publishes the fake camera and
 * microphone, and receives everyone else. Bundled with esbuild and served by the test.
 */
import { CallClient, type CallEvent } from "../../../calls/client.ts";
import { NovaSyncClient } from "../../../sync/client/index.ts";

type JoinConfig = {
  baseUrl: string;
  accessToken: string;
  roomId: string;
  maxBitrate?: number;
  /** Publish video as two simulcast layers (320×240 and 640×480) instead of one 320×240 stream. */
  simulcast?: boolean;
};

/** Waits until ICE gathering is done, so the SDP carries every candidate (no trickle needed). */
function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") resolve();
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000);
  });
}

async function join(cfg: JoinConfig) {
  const sync = new NovaSyncClient({
    baseUrl: cfg.baseUrl,
    accessToken: cfg.accessToken,
    filter: { room: { timeline: { limit: 1 } } },
  });
  await sync.start();
  const client = new CallClient(sync, 15_000);
  const events: CallEvent[] = [];
  const { participants } = await client.join(cfg.roomId, { maxBitrate: cfg.maxBitrate });

  const size = cfg.simulcast ? { width: 640, height: 480 } : { width: 320, height: 240 };
  const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: size });
  const sendPc = new RTCPeerConnection();
  // Keep the layers at their sizes: under CPU load Chrome would otherwise shrink them, and the
  // test tells the layers apart by width. Frame rate may still drop.
  if (cfg.simulcast) for (const t of media.getVideoTracks()) t.contentHint = "detail";
  for (const track of media.getTracks()) {
    const layers =
      cfg.simulcast && track.kind === "video"
        ? {
            // Lowest first: the SFU takes the offer's order as low → high.
            sendEncodings: [
              { rid: "l", scaleResolutionDownBy: 2, maxBitrate: 150_000 },
              { rid: "h", scaleResolutionDownBy: 1, maxBitrate: 700_000 },
            ],
          }
        : {};
    sendPc.addTransceiver(track, { direction: "sendonly", streams: [media], ...layers });
  }
  await sendPc.setLocalDescription(await sendPc.createOffer());
  await gathered(sendPc);
  const answer = await client.publish(sendPc.localDescription!.sdp);
  await sendPc.setRemoteDescription({ type: "answer", sdp: answer });

  const recvPc = new RTCPeerConnection();
  const videos: HTMLVideoElement[] = [];
  recvPc.ontrack = (e) => {
    // Rendering the tracks makes the browser decode them (framesDecoded).
    const el = document.createElement(e.track.kind === "video" ? "video" : "audio");
    el.autoplay = true;
    el.muted = true;
    el.srcObject = new MediaStream([e.track]);
    document.body.appendChild(el);
    if (el instanceof HTMLVideoElement) videos.push(el);
  };
  let negotiation = Promise.resolve();
  const resubscribe = () => {
    negotiation = negotiation.then(async () => {
      const { sdp } = await client.subscribe();
      if (sdp === null) return;
      await recvPc.setRemoteDescription({ type: "offer", sdp });
      await recvPc.setLocalDescription(await recvPc.createAnswer());
      await gathered(recvPc);
      await client.answer(recvPc.localDescription!.sdp);
    });
    return negotiation;
  };
  await resubscribe();
  void client.run(async (ev) => {
    events.push(ev);
    if (ev.type === "renegotiate") await resubscribe();
  });

  return {
    callId: client.callId,
    participantsAtJoin: participants.length,
    events,
    /** Inbound RTP per kind, from the receiving peer connection's getStats(). */
    async inbound() {
      const report = await recvPc.getStats();
      const out: {
        kind: string;
        framesDecoded: number;
        packetsReceived: number;
        ssrc: number;
        frameWidth: number;
        mid: string;
      }[] = [];
      report.forEach((s) => {
        if (s.type === "inbound-rtp") {
          out.push({
            kind: s.kind,
            framesDecoded: s.framesDecoded ?? 0,
            packetsReceived: s.packetsReceived ?? 0,
            ssrc: s.ssrc,
            frameWidth: s.frameWidth ?? 0,
            mid: s.mid ?? "",
          });
        }
      });
      return out;
    },
    /** Bytes of video this page has sent so far (to see the SFU's REMB ceiling take effect). */
    async videoBytesSent() {
      const report = await sendPc.getStats();
      let bytes = 0;
      report.forEach((s) => {
        if (s.type === "outbound-rtp" && s.kind === "video") bytes += s.bytesSent ?? 0;
      });
      return bytes;
    },
    states: () => ({ send: sendPc.connectionState, recv: recvPc.connectionState }),
    async leave() {
      await client.leave();
      sendPc.close();
      recvPc.close();
      for (const t of media.getTracks()) t.stop();
      sync.close();
    },
  };
}

type Session = Awaited<ReturnType<typeof join>>;
declare global {
  interface Window {
    novaCall: {
      join(cfg: JoinConfig): Promise<{ callId: string | null; participantsAtJoin: number }>;
      session?: Session;
    };
  }
}

window.novaCall = {
  async join(cfg) {
    const s = await join(cfg);
    window.novaCall.session = s;
    return { callId: s.callId, participantsAtJoin: s.participantsAtJoin };
  },
};
