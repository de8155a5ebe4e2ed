/** What a user's push rules said of an event: nothing, a notification, or a highlight. */
export type PushOutcome = { notify: boolean; highlight: boolean };

const NONE: PushOutcome = { notify: false, highlight: false };
const NOTIFY: PushOutcome = { notify: true, highlight: false };
const HIGHLIGHT: PushOutcome = { notify: true, highlight: true };

/** Events remembered; older ones are evaluated again if a count ever reaches back to them. */
const MAX_EVENTS = 50_000;

/**
 * Each recipient's push-rule outcome on recent events, as evaluated when the event was written
 * (the push verdicts of its outbox row). Unread counting reads it instead of running every
 * member's rules a second time for each delta; like Synapse's stored push actions, an event
 * keeps the outcome it had when sent, so later rule changes apply to later events. Bounded, and
 * only a shortcut: a miss (another replica's event, a restart) is evaluated as before.
 */
export class PushOutcomeMemo {
  private readonly byEvent = new Map<string, Map<string, PushOutcome>>();

  remember(eventId: string, userId: string, outcome: PushOutcome): void {
    let users = this.byEvent.get(eventId);
    if (!users) {
      if (this.byEvent.size >= MAX_EVENTS) {
        const oldest = this.byEvent.keys().next().value;
        if (oldest !== undefined) this.byEvent.delete(oldest);
      }
      users = new Map();
      this.byEvent.set(eventId, users);
    }
    users.set(userId, outcome.notify ? (outcome.highlight ? HIGHLIGHT : NOTIFY) : NONE);
  }

  get(eventId: string, userId: string): PushOutcome | undefined {
    return this.byEvent.get(eventId)?.get(userId);
  }
}
