/**
 * The wait before the next try after `failures` failed attempts (1 = the first failure):
 * `baseMs`·2^(failures−1), capped at `maxMs`, then shortened by up to a quarter at random so
 * that the deliveries of one gateway outage do not all come back in the same millisecond.
 * Never more than `maxMs`, never less than three quarters of the capped delay.
 */
export function retryDelayMs(failures: number, baseMs: number, maxMs: number, random = Math.random): number {
  // The exponent is clamped so a long outage cannot overflow to Infinity before the cap applies.
  const exponent = Math.min(40, Math.max(0, failures - 1));
  const full = Math.min(maxMs, baseMs * 2 ** exponent);
  return Math.round(full * (0.75 + 0.25 * random()));
}
