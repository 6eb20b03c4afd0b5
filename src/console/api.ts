const TOKEN_KEY = 'outpost.token';

/** An answer from the admin API that is not a success, with its one-line reason. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The admin token of this browser session (sessionStorage: gone when the tab closes). */
export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

type Query = Record<string, string | number | boolean | undefined>;

/** Calls the admin API (`/api/v1`) with the session's token, as the CLI does with its own. */
export async function api<T>(
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  options: { body?: unknown; query?: Query; token?: string } = {},
): Promise<T> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(options.query ?? {}))
    if (v !== undefined && v !== '') params.set(k, String(v));
  const url = `/api/v1${path}${params.size ? `?${params}` : ''}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${options.token ?? session.token() ?? ''}`,
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(0, 'OUTPOST_UNREACHABLE', 'cannot reach the site server');
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(res.status, 'OUTPOST_UNREACHABLE', `HTTP ${res.status}: the answer is not JSON`);
  }
  if (!res.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(res.status, error?.code ?? 'OUTPOST_ERROR', error?.message ?? `HTTP ${res.status}`);
  }
  return parsed as T;
}

export const get = <T>(path: string, query?: Query) => api<T>('GET', path, { query });
export const post = <T>(path: string, body: unknown) => api<T>('POST', path, { body });
