import { MatrixError } from "../../companion-services/platform/errors.ts";
import type { Router } from "../../companion-services/platform/http/router.ts";
import { requireSelf } from "../ids.ts";
import type { OpenIdService } from "./openid.ts";

const unknownOpenIdToken = () => new MatrixError(401, "M_UNKNOWN_TOKEN", "Access token unknown or expired");

/**
 * OpenID (spec client-server "OpenID", server-server "OpenID"): a user asks for a token for
 * themself; a third party exchanges it at the federation userinfo endpoint, served here.
 */
export function mountOpenIdRoutes(router: Router, openid: OpenIdService, serverName: string): void {
  router.post("/_matrix/client/v3/user/:userId/openid/request_token", async (req) => {
    const userId = requireSelf(req, "request OpenID tokens");
    // The body is `{}`; Synapse does not read it, nor does this.
    const { accessToken, expiresInMs } = await openid.issue(userId);
    return {
      body: {
        access_token: accessToken,
        token_type: "Bearer",
        matrix_server_name: serverName,
        expires_in: Math.floor(expiresInMs / 1000),
      },
    };
  });

  router.get(
    "/_matrix/federation/v1/openid/userinfo",
    async (req) => {
      const token = req.query.get("access_token");
      if (!token || token.length > 512) throw unknownOpenIdToken();
      const userId = await openid.userOf(token);
      if (!userId) throw unknownOpenIdToken();
      return { body: { sub: userId } };
    },
    { auth: "none" },
  );
}
