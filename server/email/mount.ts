import type { NovaContext } from "../context.ts";
import type { UserInteractiveAuth } from "../uia.ts";
import { SmtpMailer } from "./mailer/smtp.ts";
import type { Mailer } from "./mailer.ts";
import { mountThreepidRoutes } from "./threepid.routes.ts";
import { mountEmailValidation } from "./validation.routes.ts";

/**
 * Email 3PIDs: the requestToken endpoints and their links, and the account's 3PIDs. The mailer
 * is SMTP (NOVA_SMTP_URL); without it the requestToken endpoints refuse, as Synapse's do.
 */
export function mountEmail(ctx: NovaContext, uia: UserInteractiveAuth): void {
  const email = ctx.config.email;
  const mailer: Mailer | null = email
    ? new SmtpMailer({
        url: email.smtpUrl,
        from: email.from,
        heloName: new URL(ctx.config.publicBaseUrl).hostname,
      })
    : null;
  mountEmailValidation(ctx, mailer);
  mountThreepidRoutes(ctx, uia);
}
