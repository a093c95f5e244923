// Keyward console: how a browser talks to Keyward, without ever holding a token or a key.
// The session lives in HttpOnly cookies (the page cannot read them); every unsafe request
// repeats the readable CSRF cookie in X-CSRF-Token; a 401 triggers one refresh and a retry
// (lib.js). The admin pages (users, teams, keys, spend, requests) are in admin.js.

import { enterPages, leavePages, setUpPages } from './admin.js';
import {
  $,
  ApiError,
  api,
  csrfToken,
  el,
  notify,
  notifyWait,
  request,
  toError,
  whenSessionEnds,
} from './lib.js';

const conversation = []; // sent whole with every chat request
const emptyNote = $('#transcript-empty');
let chatAbort = null;

function chatErrorText(error) {
  if (error.status === undefined) return 'The connection dropped in mid-answer. Try again.';
  if (error.status === 0 || error.status === 401) return error.message;
  // /v1 says insufficient_quota (OpenAI's code), /api quota_exceeded.
  if (error.code === 'insufficient_quota' || error.code === 'quota_exceeded') {
    return `Budget exhausted: ${error.message}`;
  }
  if (error.status === 429) return `Rate limited: ${error.message}`;
  if (error.status === 503) return `Chat is unavailable right now (503): ${error.message}`;
  if (error.status === 502 || error.status === 504) {
    const what = `The upstream model is down or not answering (${error.status})`;
    return `${what}: ${error.message} Try again in a moment.`;
  }
  return `The request failed (${error.status}): ${error.message}`;
}

// ---------------------------------------------------------------------------------------------
// Signing in and out

function showSignIn(message = '') {
  leavePages();
  $('#account').hidden = true;
  $('#signin-view').hidden = false;
  $('#signin-password').value = '';
  if (message) notify('info', message);
  $('#signin-username').focus();
}
whenSessionEnds(() => showSignIn());

async function showApp(user) {
  $('#signin-view').hidden = true;
  $('#username').textContent = user.username;
  $('#account').hidden = false;
  const loads = Promise.all([loadModels(), loadUsage(), loadKeys()]);
  // The chat page, or the page the address names (#teams...) if this user may see it.
  await enterPages(user);
  await loads.catch((error) => notify('error', error.message));
}

async function signIn(event) {
  event.preventDefault();
  const button = $('#signin-submit');
  const username = $('#signin-username').value.trim();
  const password = $('#signin-password').value;
  if (!username || !password) return notify('error', 'Enter your username and password.');
  button.disabled = true;
  let wait = 0;
  try {
    const response = await request('/api/v1/auth/session', {
      method: 'POST',
      body: { username, password },
    });
    if (!response.ok) throw await toError(response);
    notify('info', '');
    await showApp((await response.json()).user);
  } catch (error) {
    $('#signin-password').select();
    if (error.status === 401) notify('error', 'Wrong username or password.');
    else if (error.status === 429) wait = error.retryAfter || 1;
    else if (error.status === 0) notify('error', error.message);
    else notify('error', `Sign-in failed (${error.status}): ${error.message}`);
  } finally {
    button.disabled = wait > 0;
  }
  if (wait) {
    const text = (s) => `Too many failed sign-ins: locked out. Try again in ${s} s.`;
    notifyWait('warn', wait, text, () => {
      button.disabled = false;
      notify('info', 'You can try signing in again.');
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Single sign-on (docs/sso.md): a plain link to the IdP; the callback sets the same cookies

let sso = { enabled: false, displayName: '' };

/** What `/?sso_error=<reason>` (set by the callback) means, in words. */
const SSO_ERRORS = {
  access_denied: 'Single sign-on was cancelled or refused by the identity provider.',
  expired: 'The single sign-on took too long or was started elsewhere. Please try again.',
  unavailable: 'The identity provider cannot be reached right now. Try again in a moment.',
  disabled: 'Your account is disabled. Ask an administrator.',
  roles_unavailable:
    'The identity provider did not include your groups in the sign-in (too many to fit). Ask an administrator.',
  failed: 'Single sign-on failed. Please try again.',
};

async function loadSso() {
  try {
    const response = await request('/api/v1/auth/oidc/config');
    if (response.ok) sso = await response.json();
  } catch {
    sso = { enabled: false, displayName: '' };
  }
  $('#sso').hidden = !sso.enabled;
  $('#sso-name').textContent = sso.displayName;
}

/** Shows a failed sign-in's reason once, and takes it out of the address bar. */
function ssoErrorFromUrl() {
  const params = new URLSearchParams(window.location.search);
  const reason = params.get('sso_error');
  if (reason === null) return '';
  params.delete('sso_error');
  const query = params.toString();
  window.history.replaceState(null, '', `${window.location.pathname}${query ? `?${query}` : ''}`);
  return SSO_ERRORS[reason] ?? SSO_ERRORS.failed;
}

async function signOut() {
  let redirectTo = null;
  if (sso.enabled) {
    // Also answers where to go so the identity provider's session ends (RP-initiated logout):
    // a same-origin route that redirects there; the ID token never reaches this page.
    const response = await api('/api/v1/auth/oidc/logout', { method: 'POST' }).catch(() => null);
    redirectTo = response ? (await response.json()).redirectTo : null;
  } else {
    await api('/api/v1/auth/session', { method: 'DELETE' }).catch(() => undefined);
  }
  chatAbort?.abort();
  conversation.length = 0;
  $('#transcript').replaceChildren(emptyNote);
  if (typeof redirectTo === 'string' && redirectTo.startsWith('/api/v1/auth/oidc/')) {
    window.location.assign(redirectTo);
    return;
  }
  showSignIn('You are signed out.');
}

// ---------------------------------------------------------------------------------------------
// Chat: POST /v1/chat/completions with stream: true, read as server-sent events

function addBubble(role, text) {
  emptyNote.remove();
  const bubble = el('div', { className: `bubble ${role}`, textContent: text });
  $('#transcript').append(bubble);
  bubble.scrollIntoView({ block: 'end' });
  return bubble;
}

/** Yields each `data:` payload of an SSE body until `[DONE]` (WHATWG HTML §9.2 event stream). */
async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += value;
    const events = buffer.split(/\r?\n\r?\n/);
    buffer = events.pop();
    for (const event of events) {
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data === '[DONE]') {
        await reader.cancel();
        return;
      }
      if (data) yield JSON.parse(data);
    }
  }
}

async function sendMessage(event) {
  event.preventDefault();
  const prompt = $('#prompt');
  const text = prompt.value.trim();
  if (!text || chatAbort) return;
  const transcript = $('#transcript');
  const userBubble = addBubble('user', text);
  const answer = addBubble('assistant', '');
  prompt.value = '';
  conversation.push({ role: 'user', content: text });
  chatAbort = new AbortController();
  transcript.setAttribute('aria-busy', 'true');
  $('#send').disabled = true;
  $('#stop').hidden = false;
  notify('info', '');
  try {
    const body = { model: $('#model').value, messages: conversation, stream: true };
    const response = await api('/v1/chat/completions', {
      method: 'POST',
      body,
      signal: chatAbort.signal,
    });
    for await (const chunk of serverSentEvents(response.body)) {
      if (chunk.error) throw new ApiError(502, chunk.error.code, chunk.error.message);
      answer.textContent += chunk.choices?.[0]?.delta?.content ?? '';
    }
    conversation.push({ role: 'assistant', content: answer.textContent });
  } catch (error) {
    const stopped = error.name === 'AbortError';
    if (stopped && answer.textContent) {
      conversation.push({ role: 'assistant', content: answer.textContent });
    } else {
      // No complete answer: take the turn back and return the text to the box to retry.
      conversation.pop();
      userBubble.remove();
      answer.remove();
      prompt.value = text;
    }
    notify(stopped ? 'info' : 'error', stopped ? 'Stopped.' : chatErrorText(error));
  } finally {
    chatAbort = null;
    transcript.setAttribute('aria-busy', 'false');
    $('#send').disabled = false;
    $('#stop').hidden = true;
    prompt.focus();
    loadUsage().catch(() => undefined);
  }
}

function onPromptKey(event) {
  // Enter sends, Shift+Enter is a new line; an IME composition keeps its own Enter.
  if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  $('#chat-form').requestSubmit();
}

// ---------------------------------------------------------------------------------------------
// Models, usage, API keys

async function loadModels() {
  const { data } = await (await api('/v1/models')).json();
  // The list holds embedding models too; this page chats.
  const chatModels = data.filter(({ kind }) => kind === 'chat');
  const select = $('#model');
  const current = select.value;
  select.replaceChildren(...chatModels.map(({ id }) => new Option(id, id)));
  if (chatModels.some(({ id }) => id === current)) select.value = current;
}

async function loadUsage() {
  const report = await (await api('/api/v1/usage?days=1')).json();
  const { usedToday, dailyTokens, requestsPerMinute } = report.limits;
  const number = new Intl.NumberFormat();
  const requests = report.totals.requests;
  $('#usage-meter').max = Math.max(dailyTokens, 1);
  $('#usage-meter').value = usedToday;
  $('#usage-text').textContent =
    `${number.format(usedToday)} of ${number.format(dailyTokens)} tokens`;
  $('#usage-detail').textContent =
    `${requests} ${requests === 1 ? 'request' : 'requests'} · up to ${requestsPerMinute} a minute`;
}

function keyItem(key) {
  const created = new Date(key.createdAt).toLocaleDateString();
  const about = `${key.prefix}… · ${key.scopes.join(', ')} · created ${created}`;
  const revoke = el('button', {
    type: 'button',
    className: 'button danger',
    textContent: 'Revoke',
  });
  revoke.setAttribute('aria-label', `Revoke key ${key.name}`);
  revoke.addEventListener('click', () => revokeKey(key));
  const details = el(
    'div',
    { className: 'key-details' },
    el('strong', { textContent: key.name }),
    el('span', { className: 'hint', textContent: about }),
  );
  return el('li', {}, details, revoke);
}

async function loadKeys() {
  const keys = await (await api('/api/v1/keys')).json();
  const none = el('li', { className: 'hint', textContent: 'No keys yet.' });
  $('#keys').replaceChildren(...(keys.length ? keys.map(keyItem) : [none]));
}

async function createKey(event) {
  event.preventDefault();
  const name = $('#key-name').value.trim();
  if (!name) return notify('error', 'Give the key a name.');
  try {
    const created = await (await api('/api/v1/keys', { method: 'POST', body: { name } })).json();
    $('#key-name').value = '';
    $('#new-key-value').textContent = created.key;
    $('#new-key').hidden = false;
    notify('info', `Key “${created.name}” created. Copy it now: it is shown only once.`);
    $('#copy-key').focus();
    await loadKeys();
  } catch (error) {
    notify('error', `Could not create the key: ${error.message}`);
  }
}

async function copyKey() {
  try {
    await navigator.clipboard.writeText($('#new-key-value').textContent);
    notify('info', 'Key copied to the clipboard.');
  } catch {
    window.getSelection().selectAllChildren($('#new-key-value'));
    notify('warn', 'Copying is blocked here: the key is selected, press Ctrl+C (⌘C) to copy it.');
  }
}

function hideKey() {
  $('#new-key-value').textContent = '';
  $('#new-key').hidden = true;
  $('#key-name').focus();
}

async function revokeKey(key) {
  if (!confirm(`Revoke the key “${key.name}”? Programs using it stop working at once.`)) return;
  try {
    await api(`/api/v1/keys/${encodeURIComponent(key.id)}`, { method: 'DELETE' });
    notify('info', `Key “${key.name}” revoked.`);
    await loadKeys();
    $('#key-name').focus();
  } catch (error) {
    notify('error', `Could not revoke the key: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Start: a readable CSRF cookie means there may be a session; /me (with refresh) decides.

async function start() {
  $('#signin-form').addEventListener('submit', signIn);
  $('#signout').addEventListener('click', signOut);
  $('#chat-form').addEventListener('submit', sendMessage);
  $('#prompt').addEventListener('keydown', onPromptKey);
  $('#stop').addEventListener('click', () => chatAbort?.abort());
  $('#key-form').addEventListener('submit', createKey);
  $('#copy-key').addEventListener('click', copyKey);
  $('#hide-key').addEventListener('click', hideKey);
  setUpPages();
  await loadSso();
  const ssoError = ssoErrorFromUrl();
  if (ssoError) {
    showSignIn();
    return notify('error', ssoError);
  }
  if (!csrfToken()) return showSignIn();
  try {
    await showApp(await (await api('/api/v1/auth/me')).json());
  } catch (error) {
    if (error.status !== 401) showSignIn(error.message);
  }
}

start();
