/**
 * The ceiling for bench/ws-fanout.ts: a bare uWebSockets.js server that relays each published
 * frame to the room's subscribers, with no auth, parsing or storage beyond finding the room
 * (the frame starts with `<room>|`). A frame `sub|r1,r2,…` subscribes; every relayed frame is
 * acknowledged to its sender with `ack|<id>` so the load generator's flow control is the same as
 * against Nova. Prints `relay listening <port>` on stdout.
 */
import uWS from "uWebSockets.js";

const app = uWS.App();
const decoder = new TextDecoder();
app.ws("/*", {
  maxPayloadLength: 64 * 1024,
  idleTimeout: 120,
  maxBackpressure: 64 * 1024 * 1024,
  message: (ws, message) => {
    const text = decoder.decode(message);
    const bar = text.indexOf("|");
    const head = text.slice(0, bar);
    if (head === "sub") {
      for (const room of text.slice(bar + 1).split(",")) ws.subscribe(room);
      ws.send("subscribed");
      return;
    }
    // `<room>|<id>|<payload>`: relay as is, acknowledge to the sender.
    app.publish(head, message, false);
    const idEnd = text.indexOf("|", bar + 1);
    ws.send(`ack|${text.slice(bar + 1, idEnd)}`);
  },
});
app.listen("127.0.0.1", Number(process.env.RELAY_PORT ?? 0), (s) => {
  if (!s) {
    console.error("relay: cannot listen");
    process.exit(1);
  }
  console.log(`relay listening ${uWS.us_socket_local_port(s)}`);
});
process.on("SIGTERM", () => process.exit(0));
