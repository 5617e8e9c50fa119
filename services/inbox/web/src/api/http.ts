// The one place that talks HTTP to the inbox: JSON in and out, the CSRF token on every change.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

let csrfToken = "";

/** Remember the session's CSRF token (from /api/login or /api/me). */
export function setCsrf(token: string): void {
  csrfToken = token;
}

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  body?: unknown;
}

/** Call the inbox API; throws ApiError with the server's message on any non-2xx answer. */
export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let resp: Response;
  try {
    resp = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(0, "network");
  }
  if (!resp.ok) throw new ApiError(resp.status, (await resp.text().catch(() => "")) || resp.statusText);
  return (await resp.json()) as T;
}

/** Encode one path segment. */
export const seg = (value: string): string => encodeURIComponent(value);

/** POST a multipart form (a file upload); the error's message is the server's body (JSON for refusals). */
export async function postForm<T>(path: string, form: FormData): Promise<T> {
  let resp: Response;
  try {
    resp = await fetch(path, {
      method: "POST",
      headers: { Accept: "application/json", "X-CSRF-Token": csrfToken },
      credentials: "same-origin",
      body: form,
    });
  } catch {
    throw new ApiError(0, "network");
  }
  if (!resp.ok) throw new ApiError(resp.status, (await resp.text().catch(() => "")) || resp.statusText);
  return (await resp.json()) as T;
}
