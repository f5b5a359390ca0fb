// The API of kfgate, from the console: same origin, the sign-in cookie,
// JSON in and out. A failed call throws an ApiError with the server's
// one-line reason.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// onSignedOut is called when a call answers 401 (the session ended).
let onSignedOut = () => {};
export function whenSignedOut(fn) { onSignedOut = fn; }

export async function api(method, path, body) {
  const init = {method, credentials: 'same-origin', headers: {}};
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch('/api/v1' + path, init);
  } catch (e) {
    throw new ApiError(0, e.message);
  }
  if (resp.status === 204) return {};
  let data = {};
  try { data = await resp.json(); } catch { /* not JSON */ }
  if (!resp.ok) {
    if (resp.status === 401 && path !== '/session') onSignedOut();
    throw new ApiError(resp.status, data.error || resp.statusText);
  }
  return data;
}

export const get = (p) => api('GET', p);
export const post = (p, b) => api('POST', p, b === undefined ? {} : b);
export const put = (p, b) => api('PUT', p, b);
export const patch = (p, b) => api('PATCH', p, b);
export const del = (p) => api('DELETE', p);

// optional runs a call and answers null when the endpoint does not exist
// on this kfgate (404 or 405): the console hides what needs it.
export async function optional(p) {
  try {
    return await get(p);
  } catch (e) {
    if (e.status === 404 || e.status === 405 || e.status === 503) return null;
    throw e;
  }
}

export const enc = encodeURIComponent;
