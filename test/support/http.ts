import type { App } from "../../src/compose.ts";

export interface JsonResponse<T = any> {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: T;
}

/** `app.inject` with JSON in and out and a bearer key. */
export function client(app: App, key?: string) {
  const call = async <T = any>(
    method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE",
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<JsonResponse<T>> => {
    const response = await app.server.inject({
      method,
      url,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      ...(body === undefined
        ? {}
        : { payload: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = response.body;
    return {
      status: response.statusCode,
      headers: response.headers,
      body: text ? tryJson(text) : undefined,
    };
  };
  return {
    get: <T = any>(url: string, headers?: Record<string, string>) =>
      call<T>("GET", url, undefined, headers),
    post: <T = any>(url: string, body?: unknown, headers?: Record<string, string>) =>
      call<T>("POST", url, body, headers),
    patch: <T = any>(url: string, body?: unknown, headers?: Record<string, string>) =>
      call<T>("PATCH", url, body, headers),
    put: <T = any>(url: string, body?: unknown, headers?: Record<string, string>) =>
      call<T>("PUT", url, body, headers),
    delete: <T = any>(url: string, headers?: Record<string, string>) =>
      call<T>("DELETE", url, undefined, headers),
  };
}

const tryJson = (text: string) => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};
