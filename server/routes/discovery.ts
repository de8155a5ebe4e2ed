import type { NovaContext } from "../context.ts";
import { SUPPORTED_ROOM_VERSIONS } from "../rooms/room-versions.ts";

/** Spec versions whose every endpoint Nova serves (matrix-js-sdk needs at least v1.1). */
export const SUPPORTED_VERSIONS = [
  "v1.1",
  "v1.2",
  "v1.3",
  "v1.4",
  "v1.5",
  "v1.6",
  "v1.7",
  "v1.8",
  "v1.9",
  "v1.10",
  "v1.11",
];

export function mountDiscovery(ctx: NovaContext): void {
  const { router, config } = ctx;
  router.get(
    "/_matrix/client/versions",
    () => ({
      body: {
        versions: SUPPORTED_VERSIONS,
        unstable_features: {
          "org.matrix.msc2732": true,
          "org.matrix.msc3814": true,
          // Simplified sliding sync (MSC4186): Element X refuses a server without it.
          "org.matrix.simplified_msc3575": true,
        },
      },
    }),
    { auth: "none" },
  );
  router.get(
    "/.well-known/matrix/client",
    () => ({ body: { "m.homeserver": { base_url: config.publicBaseUrl } } }),
    { auth: "none" },
  );
  router.get("/_matrix/client/v3/capabilities", () => ({
    body: {
      capabilities: {
        "m.change_password": { enabled: true },
        "m.room_versions": {
          default: config.defaultRoomVersion,
          available: Object.fromEntries(SUPPORTED_ROOM_VERSIONS.map((v) => [v, "stable"])),
        },
        "m.set_displayname": { enabled: true },
        "m.set_avatar_url": { enabled: true },
        // Adding an email needs the validation mail: only with NOVA_SMTP_URL.
        "m.3pid_changes": { enabled: config.email !== null },
        "m.get_login_token": { enabled: false },
      },
    },
  }));
}
