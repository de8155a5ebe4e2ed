/** An event to be built, authorised and signed under the room's lock. */
export type Draft = {
  type: string;
  stateKey?: string;
  content: Record<string, unknown>;
  sender: string;
  redacts?: string;
};
