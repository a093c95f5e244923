// Keyward console, shared by its pages: the DOM helpers, the HTTP layer (cookie session, CSRF
// header, one refresh on 401, readable errors), the message region and number formats.
// Untrusted text (names, models, log rows) only ever reaches the page through `textContent`
// (`el(tag, { textContent })`, `new Option(text)`), never through HTML parsing.

export const $ = (selector) => document.querySelector(selector);

/** A DOM element with properties set: `el('li', { className: 'hint', textContent: '…' })`. */
export const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// ---------------------------------------------------------------------------------------------
// HTTP: cookies, CSRF, refresh on 401, readable errors

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    Object.assign(this, { status, code, retryAfter });
  }
}

/**
 * The CSRF cookie is the only one page script can read (`__Host-` prefix when Secure). The
 * names are COOKIE_POLICY's (src/cookies/cookie-policy.ts); its spec checks they match.
 */
export function csrfToken() {
  const names = ['__Host-kw_csrf', 'kw_csrf'];
  for (const pair of document.cookie.split('; ')) {
    const [name, ...value] = pair.split('=');
    if (names.includes(name)) return decodeURIComponent(value.join('='));
  }
  return '';
}

export async function request(
  path,
  { method = 'GET', body, signal, accept = 'application/json' } = {},
) {
  const headers = { Accept: accept };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (UNSAFE.has(method)) headers['X-CSRF-Token'] = csrfToken();
  try {
    return await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal,
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(
      0,
      'network',
      'Network error: Keyward could not be reached. Check your connection and try again.',
    );
  }
}

/** problem+json (`/api`) and OpenAI errors (`/v1`) both become one ApiError. */
export async function toError(response) {
  const body = await response.json().catch(() => ({}));
  const retryAfter = Number(response.headers.get('Retry-After')) || 0;
  const code = body.error?.code ?? body.type?.split(':').pop() ?? String(response.status);
  const message = body.error?.message ?? body.detail ?? body.title ?? response.statusText;
  return new ApiError(response.status, code, message, retryAfter);
}

let refreshing = null;
/** One refresh at a time, however many requests saw the 401. */
function refreshSession() {
  refreshing ??= request('/api/v1/auth/session/refresh', { method: 'POST' })
    .then((response) => response.ok)
    .catch(() => false)
    .finally(() => (refreshing = null));
  return refreshing;
}

let onSessionEnd = () => undefined;
/** What to do when the session is over for good (app.js shows the sign-in form). */
export function whenSessionEnds(callback) {
  onSessionEnd = callback;
}

/** A request on the cookie session: an expired access cookie is refreshed once, then retried. */
export async function api(path, options = {}) {
  let response = await request(path, options);
  if (response.status === 401 && (await refreshSession())) response = await request(path, options);
  if (response.status === 401) {
    onSessionEnd();
    throw new ApiError(401, 'unauthenticated', 'Your session has ended. Please sign in again.');
  }
  if (!response.ok) throw await toError(response);
  return response;
}

/** `api()` for JSON answers; `undefined` for 204 No Content. */
export async function apiJson(path, options = {}) {
  const response = await api(path, options);
  return response.status === 204 ? undefined : response.json();
}

/** A query string from the non-empty entries of `params`. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** A path segment from an id (ids come from the API, but a path is no place to trust them). */
export const segment = (id) => encodeURIComponent(id);

// ---------------------------------------------------------------------------------------------
// The message region (aria-live): every state is said in words, not only logged

let countdown = null;

export function notify(kind, text) {
  clearInterval(countdown);
  const notice = $('#notice');
  notice.dataset.kind = kind;
  notice.textContent = text;
  notice.hidden = !text;
}

/** "…in 42 s", counting down; `onDone` runs when the wait is over. */
export function notifyWait(kind, seconds, text, onDone) {
  notify(kind, text(seconds));
  countdown = setInterval(() => {
    seconds -= 1;
    if (seconds > 0) {
      $('#notice').textContent = text(seconds);
    } else {
      clearInterval(countdown);
      onDone();
    }
  }, 1000);
}

// ---------------------------------------------------------------------------------------------
// Formats

const integer = new Intl.NumberFormat('en-US');
const usd = new Intl.NumberFormat('en-US', {
  style: 'currency',
  currency: 'USD',
  minimumFractionDigits: 2,
  maximumFractionDigits: 6,
});

export const formatNumber = (value) =>
  value === null || value === undefined ? '–' : integer.format(value);
export const formatUsd = (value) =>
  value === null || value === undefined ? '–' : usd.format(value);
/** `2026-11-30 14:05 UTC`: one zone for everyone reading the same log. */
export const formatTime = (iso) =>
  iso ? `${new Date(iso).toISOString().slice(0, 16).replace('T', ' ')} UTC` : '–';
export const formatDate = (iso) => (iso ? new Date(iso).toISOString().slice(0, 10) : '–');

/** A table row of cells; a cell is text or a node. */
export function tableRow(cells) {
  return el(
    'tr',
    {},
    ...cells.map((cell) =>
      cell instanceof Node ? el('td', {}, cell) : el('td', { textContent: String(cell ?? '–') }),
    ),
  );
}

/** A small button whose accessible name says what it acts on ("Revoke key ci"). */
export function actionButton(text, label, onClick, className = 'button secondary small') {
  const button = el('button', { type: 'button', className, textContent: text });
  button.setAttribute('aria-label', label);
  button.addEventListener('click', onClick);
  return button;
}

/** Fills a `<tbody>`: the rows, or one row saying there are none. */
export function fillTable(tbody, rows, emptyText) {
  const columns = tbody.closest('table').querySelectorAll('thead th').length || 1;
  const empty = el(
    'tr',
    {},
    el('td', { colSpan: columns, className: 'hint', textContent: emptyText }),
  );
  tbody.replaceChildren(...(rows.length ? rows : [empty]));
}
