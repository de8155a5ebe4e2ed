import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Who a request to @tus/server is for. tus hands its DataStore only the `Upload`, so the route
 * runs `handleWeb` inside this scope and `SessionStore.create` reads the owner from it.
 */
export const uploadCaller = new AsyncLocalStorage<{ userId: string }>();
