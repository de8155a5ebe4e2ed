/**
 * bench/initial-sync.ts's seeding, through the in-process services (createNova, the rooms
 * service) rather than HTTP: 90,000 joins over HTTP would take longer than the measurement is
 * worth. The measured users register over HTTP, as a client would, so their tokens and devices
 * are real; everyone else is created by identity directly, without a password or a login.
 */
import { createLogger } from "../companion-services/platform/logger.ts";
import { createNova, type Nova } from "../server/app.ts";
import { loadConfig } from "../server/config.ts";
import { GENEROUS_RATE_LIMITS } from "../test/helpers/rate-limits.ts";
import { pool } from "./pool.lib.ts";

export type Shape = { rooms: number; others: number; messages: number };
export type Seeded = { userId: string; accessToken: string; roomIds: string[] };

const log = (s: string) => console.log(`[initial-sync] ${s}`);

async function registerOverHttp(
  nova: Nova,
  username: string,
): Promise<{ userId: string; accessToken: string }> {
  const res = await fetch(`http://127.0.0.1:${nova.port}/_matrix/client/v3/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password: "bench password", auth: { type: "m.login.dummy" } }),
  });
  const body = (await res.json()) as { user_id: string; access_token: string };
  if (res.status !== 200) throw new Error(`register ${username}: ${res.status} ${JSON.stringify(body)}`);
  return { userId: body.user_id, accessToken: body.access_token };
}

async function others(nova: Nova, prefix: string, n: number): Promise<string[]> {
  const ids: string[] = new Array(n);
  await pool([...Array(n).keys()], 8, async (i) => {
    const r = await nova.identity.register({ localpart: `${prefix}${i}`, inhibitLogin: true });
    ids[i] = r.userId;
  });
  return ids;
}

/**
 * One user in `shape.rooms` public rooms it created; in each, `shape.others` other users join
 * (taken in turn from a pool) and then `shape.messages` messages are sent, by the joiners in
 * turn (by the user itself when nobody else is there).
 */
async function seedShape(
  nova: Nova,
  name: string,
  shape: Shape,
  otherPool: string[],
  concurrency: number,
): Promise<Seeded> {
  const t0 = performance.now();
  const me = await registerOverHttp(nova, name);
  const roomIds: string[] = new Array(shape.rooms);
  let done = 0;
  let joins = 0;
  await pool([...Array(shape.rooms).keys()], concurrency, async (i) => {
    const { roomId } = await nova.rooms.createRoom(me.userId, {
      name: `${name} room ${i}`,
      preset: "public_chat",
    });
    roomIds[i] = roomId;
    const members: string[] = [];
    for (let k = 0; k < shape.others; k++) {
      const u = otherPool[(i * shape.others + k) % otherPool.length]!;
      if (members.includes(u)) continue;
      await nova.rooms.join(u, roomId);
      members.push(u);
      joins++;
    }
    for (let m = 0; m < shape.messages; m++) {
      const sender = members.length > 0 ? members[m % members.length]! : me.userId;
      await nova.rooms.sendEvent(sender, roomId, "m.room.message", {
        msgtype: "m.text",
        body: `message ${m} in room ${i}`,
      });
    }
    done++;
    if (done % Math.max(1, Math.floor(shape.rooms / 10)) === 0) {
      const s = (performance.now() - t0) / 1000;
      log(`${name}: ${done}/${shape.rooms} rooms, ${joins} joins, ${s.toFixed(0)} s`);
    }
  });
  return { ...me, roomIds };
}

/**
 * Seeds both shapes into the storage `env` names (DATABASE_URL, or NOVA_DATA_DIR for PGlite),
 * then closes the in-process server so the measured one can open the same storage.
 */
export async function seed(
  env: Record<string, string>,
  shapes: { many: Shape; lazy: Shape },
  concurrency: number,
): Promise<{ many: Seeded; lazy: Seeded; seconds: number }> {
  const t0 = performance.now();
  const config = loadConfig({ ...GENEROUS_RATE_LIMITS, NOVA_PORT: "0", NOVA_LOG_LEVEL: "warn", ...env });
  const nova = await createNova(config, { logger: createLogger("warn") });
  try {
    const manyPool = await others(nova, "friend", Math.max(shapes.many.others * 10, 1));
    // Everyone in every lazy room: the pool is exactly the other members.
    const lazyPool = await others(nova, "member", shapes.lazy.others);
    log(`registered ${manyPool.length + lazyPool.length} other users`);
    const many = await seedShape(nova, "many", shapes.many, manyPool, concurrency);
    const lazy = await seedShape(nova, "lazy", shapes.lazy, lazyPool, concurrency);
    return { many, lazy, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await nova.close();
  }
}
