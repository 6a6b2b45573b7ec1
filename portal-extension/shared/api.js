// The one API client of the portal: JSON requests to wapdr's tenant or admin API, errors turned
// into ApiError with the WAP Error's Message. Where the calls go and which headers they carry is
// the host's choice: standalone, the Basic credentials and principal the person signed in with;
// inside WAP, the extension's own controller path, which WAP's tenant or admin API forwards with
// its own credentials (see portal-extension/README.md).

/** A refused or failed call: HTTP status, WAP error code and message. */
export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** `Basic base64(user:password)`, UTF-8 safe. */
export function basicAuth(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

/**
 * A client for the API under `base` (e.g. `/admin` or `/tenant/subscriptions/{id}`) sending
 * `headers` with every call. `credentials: 'omit'` keeps the browser's own HTTP-auth cache and
 * login prompt out of it: the only credentials are the ones in `headers`.
 */
export function createClient({ base, headers = {} }) {
  async function send(method, path, body, accept = 'application/json') {
    const init = {
      method,
      headers: { Accept: accept, ...headers },
      credentials: 'omit',
      cache: 'no-store',
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(base + path, init);
    } catch {
      throw new ApiError(0, 'wapdr cannot be reached. Check your connection and try again.');
    }
    const text = await response.text();
    if (!response.ok) {
      let message = response.statusText || `HTTP ${response.status}`;
      let code;
      try {
        const error = JSON.parse(text);
        message = error.Message || message;
        code = error.Code;
      } catch { /* not a WAP Error body */ }
      if (response.status === 401) message = 'The user name or password was not accepted.';
      throw new ApiError(response.status, message, code);
    }
    return { status: response.status, text };
  }
  const json = async (method, path, body) => {
    const { text } = await send(method, path, body);
    return text ? JSON.parse(text) : null;
  };
  return {
    base,
    get: (path) => json('GET', path),
    post: (path, body = {}) => json('POST', path, body),
    put: (path, body) => json('PUT', path, body),
    del: (path) => json('DELETE', path),
    /** The body as text (a report's HTML page). */
    text: async (path, accept = 'text/html') => (await send('GET', path, undefined, accept)).text,
  };
}

/** The client of one tenant subscription, as WAP's tenant API pass-through would call it. */
export function tenantClient({ user, password, principal, subscriptionId }) {
  return createClient({
    base: `/tenant/subscriptions/${encodeURIComponent(subscriptionId)}`,
    headers: {
      Authorization: basicAuth(user, password),
      'x-ms-principal-id': encodeURIComponent(principal),
    },
  });
}

/**
 * The client of the admin API. `operator` goes in `x-ms-principal-id`, as WAP's admin API sends
 * the signed-in administrator, so the jobs this page starts record who started them.
 */
export function adminClient({ user, password, operator }) {
  const headers = { Authorization: basicAuth(user, password) };
  if (operator) headers['x-ms-principal-id'] = encodeURIComponent(operator);
  return createClient({ base: '/admin', headers });
}

/** Query text from an object, leaving out empty values: `?a=1&b=x`. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
