import type { KeyServer } from "../../../crypto/key-server.ts";
import type { AccountDataService } from "../../client/account-data.ts";
import type { ReceiptsService } from "../../client/receipts.ts";
import type { TypingService } from "../../client/typing.ts";
import type { ExtensionsRequest } from "../schema.ts";
import { accountData } from "./account-data.ts";
import { e2ee } from "./e2ee.ts";
import { receipts } from "./receipts.ts";
import { scopedRooms } from "./scope.ts";
import { toDevice } from "./to-device.ts";
import type { ExtensionsResult, ExtensionWindow } from "./types.ts";
import { typing } from "./typing.ts";

export type SlidingExtensionsDeps = {
  keys: KeyServer;
  accountData: AccountDataService;
  receipts: ReceiptsService;
  typing: TypingService;
};

/**
 * The extensions of simplified sliding sync (MSC4186): to_device, e2ee, account_data, receipts
 * and typing, computed for one response window. An extension not enabled is absent from the
 * response. Each extension reads once (or once per distinct room position) for all its rooms.
 */
export class SlidingExtensions {
  constructor(private readonly deps: SlidingExtensionsDeps) {}

  async compute(req: ExtensionsRequest | null | undefined, w: ExtensionWindow): Promise<ExtensionsResult> {
    if (!req) return { extensions: {}, hasData: false };
    const { keys } = this.deps;
    const on = <T extends { enabled?: boolean | null }>(x: T | null | undefined): x is T =>
      x?.enabled === true;
    // The extensions read independent stores: they go out together.
    const [td, keysPart, ad, rc] = await Promise.all([
      on(req.to_device) ? toDevice(keys, req.to_device, w) : null,
      on(req.e2ee) ? e2ee(keys, w) : null,
      on(req.account_data) ? accountData(this.deps.accountData, scopedRooms(req.account_data, w), w) : null,
      on(req.receipts) ? receipts(this.deps.receipts, scopedRooms(req.receipts, w), w) : null,
    ]);
    const ty = on(req.typing) ? typing(this.deps.typing, scopedRooms(req.typing, w), w) : null;

    const extensions: Record<string, unknown> = {};
    let hasData = false;
    if (td) {
      extensions.to_device = td;
      hasData ||= td.events.length > 0;
    }
    if (keysPart) {
      extensions.e2ee = keysPart;
      // Key counts alone do not end a long-poll (Synapse: they ride along with the next response).
      const lists = keysPart.device_lists;
      hasData ||= !!lists && (lists.changed.length > 0 || lists.left.length > 0);
    }
    if (ad) {
      extensions.account_data = ad;
      hasData ||= ad.global.length > 0 || Object.keys(ad.rooms).length > 0;
    }
    if (rc) {
      extensions.receipts = rc;
      hasData ||= Object.keys(rc.rooms).length > 0;
    }
    if (ty) {
      extensions.typing = ty;
      hasData ||= Object.keys(ty.rooms).length > 0;
    }
    return { extensions, hasData };
  }
}
