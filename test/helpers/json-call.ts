/**
 * A JSON caller for a test's own HTTP server: `call(method, path, token, body)` answers the
 * status and the parsed body (`{}` when empty). A string body is sent as it is (bad JSON tests).
 */
export function jsonCaller(base: string) {
  return async (method: string, path: string, token: string | null, body?: unknown) => {
    const headers: Record<string, string> = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(`${base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
}
