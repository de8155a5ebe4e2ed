import { WeriftSfu } from "../../calls/sfu/werift.ts";
import { sfuConformance } from "./helpers/sfu-conformance.ts";

sfuConformance("werift", async () => new WeriftSfu({ iceAddress: "127.0.0.1", maxVideoBitrate: 1_500_000 }), {
  rembIsCeiling: true,
});
