/**
 * The werift SFU in a process of its own for bench/sfu.ts, so that its CPU time is measured apart
 * from the synthetic publishers and subscribers. Driven over IPC (process.send).
 */
import { createSocket, type Socket } from "node:dgram";
import { WeriftSfu } from "../calls/sfu/werift.ts";
import type { RecvTransport, SendTransport, SfuRouter } from "../calls/sfu.ts";

type Msg = { id: number; op: string; pid?: string; sdp?: string; maxBitrate?: number; ports?: number[] };

const sfu = new WeriftSfu({ iceAddress: "127.0.0.1", maxVideoBitrate: 2_000_000 });
let router: SfuRouter | null = null;
const sends = new Map<string, SendTransport>();
const recvs = new Map<string, RecvTransport>();
/** The ceiling run: plain UDP fan-out (no ICE, DTLS, SRTP or RTP parsing) of every packet to every target. */
let bare: Socket | null = null;
let bareForwarded = 0;

async function handle(m: Msg): Promise<unknown> {
  switch (m.op) {
    case "router":
      router = await sfu.createRouter(`bench-${m.id}`);
      return {};
    case "publish": {
      const t = await router!.createSendTransport(m.pid!);
      sends.set(m.pid!, t);
      return { sdp: await t.negotiate(m.sdp!) };
    }
    case "subscribe": {
      const t = await router!.createRecvTransport(m.pid!, { maxBitrate: m.maxBitrate ?? 2_000_000 });
      recvs.set(m.pid!, t);
      for (const p of router!.producers()) await t.consume(p);
      return { sdp: await t.createOffer() };
    }
    case "bare": {
      const targets = m.ports!;
      const sock = createSocket("udp4");
      await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
      sock.on("message", (msg) => {
        for (const port of targets) sock.send(msg, port, "127.0.0.1");
        bareForwarded += targets.length;
      });
      bare = sock;
      return { port: sock.address().port };
    }
    case "answer":
      await recvs.get(m.pid!)!.applyAnswer(m.sdp!);
      return {};
    case "stats": {
      const cpu = process.cpuUsage();
      return {
        cpuMicros: cpu.user + cpu.system,
        forwarded: router?.forwardedPackets() ?? bareForwarded,
        producers: router?.producers().length ?? 0,
        connected: [...sends.values(), ...recvs.values()].filter((t) => t.state === "connected").length,
        rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
      };
    }
    case "reset":
      await router?.close();
      router = null;
      bare?.close();
      bare = null;
      bareForwarded = 0;
      sends.clear();
      recvs.clear();
      return {};
    case "exit":
      await sfu.close();
      setTimeout(() => process.exit(0), 10);
      return {};
    default:
      throw new Error(`unknown op ${m.op}`);
  }
}

process.on("message", (m: Msg) => {
  handle(m).then(
    (result) => process.send!({ id: m.id, result }),
    (err: Error) => process.send!({ id: m.id, error: err.message }),
  );
});
process.send!({ ready: true });
