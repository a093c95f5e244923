// Keyward console: the pages beside the chat (users, teams, keys, spend, requests) and the
// navigation between them. Which pages a user sees follows what the API lets them do: admins
// everything, team admins their teams' members, keys, spend and requests, everyone their own
// keys. Hiding a page is only convenience: the API refuses what the role may not do.
// Every name, model and log field is untrusted: it reaches the page through textContent only.

import uPlot from '/vendor/uplot/uPlot.esm.js';
import {
  $,
  actionButton,
  api,
  apiJson,
  el,
  fillTable,
  formatDate,
  formatNumber,
  formatTime,
  formatUsd,
  notify,
  query,
  segment,
  tableRow,
} from './lib.js';

const session = {
  user: null,
  isAdmin: false,
  /** GET /api/v1/teams: [{id, name, role}] (admins: every team, role "admin"). */
  teams: [],
};
/** The teams whose members, keys, spend and requests this user manages. */
const managedTeams = () =>
  session.teams.filter((team) => team.role === 'team_admin' || team.role === 'admin');
const teamName = (id) => session.teams.find((team) => team.id === id)?.name ?? id;

// ---------------------------------------------------------------------------------------------
// Pages and navigation (the address names the page: #teams, #spend...)

const PAGES = {
  chat: { view: '#app-view', allowed: () => true },
  users: { view: '#page-users', allowed: () => session.isAdmin, load: loadUsers },
  teams: {
    view: '#page-teams',
    allowed: () => managedTeams().length > 0 || session.isAdmin,
    load: loadTeams,
  },
  keys: { view: '#page-keys', allowed: () => true, load: loadKeysPage },
  spend: {
    view: '#page-spend',
    allowed: () => managedTeams().length > 0 || session.isAdmin,
    load: prepareSpend,
  },
  requests: {
    view: '#page-requests',
    allowed: () => managedTeams().length > 0 || session.isAdmin,
    load: prepareRequests,
  },
};

function pageFromAddress() {
  const name = location.hash.slice(1);
  return Object.hasOwn(PAGES, name) && PAGES[name].allowed() ? name : 'chat';
}

let current = null;
async function showPage(name) {
  const page = PAGES[name];
  for (const [other, { view }] of Object.entries(PAGES)) $(view).hidden = other !== name;
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.page === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const changed = current !== name;
  current = name;
  if (name === 'chat') {
    if (changed) $('#prompt').focus();
    return;
  }
  if (changed) $(`${page.view} h2`).focus();
  try {
    await page.load();
  } catch (error) {
    notify('error', error.message);
  }
}

function updateNav() {
  for (const link of document.querySelectorAll('#nav a')) {
    link.hidden = !PAGES[link.dataset.page].allowed();
  }
}

/**
 * After sign-in: the page the address names if this user may see it, else the chat. The chat
 * comes at once (focus in the message box); the other pages need the user's teams first.
 */
export async function enterPages(user) {
  session.user = user;
  session.isAdmin = user.roles.includes('admin');
  session.teams = [];
  current = null;
  updateNav();
  $('#nav').hidden = false;
  const wanted = location.hash.slice(1);
  if (!Object.hasOwn(PAGES, wanted) || wanted === 'chat') await showPage('chat');
  session.teams = await loadMyTeams().catch((error) => {
    notify('error', `Could not load your teams: ${error.message}`);
    return [];
  });
  updateNav();
  if (pageFromAddress() !== current) await showPage(pageFromAddress());
}

export function leavePages() {
  $('#nav').hidden = true;
  for (const { view } of Object.values(PAGES)) $(view).hidden = true;
  current = null;
}

export function setUpPages() {
  window.addEventListener('hashchange', () => {
    if (session.user && !$('#nav').hidden) void showPage(pageFromAddress());
  });
  $('#user-form').addEventListener('submit', createUser);
  $('#team-form').addEventListener('submit', saveTeam);
  $('#team-new').addEventListener('click', () => editTeam(null));
  $('#team-delete').addEventListener('click', deleteTeam);
  $('#member-form').addEventListener('submit', addMember);
  $('#policy-key-form').addEventListener('submit', submitPolicyKey);
  $('#pk-cancel').addEventListener('click', () => editKey(null));
  $('#pk-copy').addEventListener('click', copySecret);
  $('#pk-done').addEventListener('click', hideSecret);
  $('#team-keys-team').addEventListener('change', () => void loadTeamKeys().catch(failed));
  $('#admin-keys-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void loadAdminKeys().catch(failed);
  });
  $('#spend-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void loadSpend().catch(failed);
  });
  $('#spend-scope').addEventListener('change', fillGroupBy);
  $('#requests-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void loadRequests().catch(failed);
  });
  $('#req-scope').addEventListener('change', () => void fillRequestUsers().catch(failed));
  $('#req-more').addEventListener('click', () => void loadRequests(nextCursor).catch(failed));
  $('#req-csv').addEventListener('click', () => void exportCsv().catch(failed));
}

const failed = (error) => notify('error', error.message);

async function loadMyTeams() {
  try {
    return await apiJson('/api/v1/teams');
  } catch (error) {
    if (error.status === 404) return []; // a Keyward without teams
    throw error;
  }
}

/** `<option>`s from [text, value] pairs (`new Option` sets text, never HTML). */
function fillSelect(select, pairs) {
  const before = select.value;
  select.replaceChildren(...pairs.map(([text, value]) => new Option(text, value)));
  if (pairs.some(([, value]) => value === before)) select.value = before;
}

// Admin's user list, shared by the pages that offer a user to pick: the people, and the
// machine clients' service users (`machine: true`) for the pages where a client acts.
let usersCache = null;
async function allUsers(fresh = false) {
  if (!session.isAdmin) return [];
  if (fresh || !usersCache) usersCache = await apiJson('/api/v1/admin/users?machine=include');
  return usersCache;
}

async function people(fresh = false) {
  return (await allUsers(fresh)).filter((user) => !user.machine);
}

// ---------------------------------------------------------------------------------------------
// Users (admins)

async function loadUsers() {
  const users = await people(true);
  fillTable($('#users-rows'), users.map(userRow), 'No users.');
}

function userRow(user) {
  const isAdmin = user.roles.includes('admin');
  const roles = isAdmin
    ? user.roles.filter((role) => role !== 'admin')
    : [...user.roles.filter((role) => role !== 'admin'), 'admin'];
  const actions = el(
    'div',
    { className: 'actions' },
    actionButton(
      isAdmin ? 'Remove admin' : 'Make admin',
      `${isAdmin ? 'Remove admin role from' : 'Make admin'} ${user.username}`,
      () => void updateUser(user, { roles: roles.length ? roles : ['user'] }),
    ),
    actionButton(
      user.disabled ? 'Enable' : 'Disable',
      `${user.disabled ? 'Enable' : 'Disable'} user ${user.username}`,
      () => void updateUser(user, { disabled: !user.disabled }),
      user.disabled ? 'button secondary small' : 'button danger small',
    ),
  );
  return tableRow([
    el('strong', { textContent: user.username }),
    user.roles.join(', '),
    user.disabled ? 'disabled' : 'active',
    formatDate(user.createdAt),
    actions,
  ]);
}

async function updateUser(user, change) {
  try {
    await apiJson(`/api/v1/admin/users/${segment(user.id)}`, { method: 'PATCH', body: change });
    notify('info', `User “${user.username}” updated.`);
    await loadUsers();
  } catch (error) {
    notify('error', `Could not update “${user.username}”: ${error.message}`);
  }
}

async function createUser(event) {
  event.preventDefault();
  const username = $('#new-user-name').value.trim();
  const password = $('#new-user-secret').value;
  const roles = $('#new-user-admin').checked ? ['user', 'admin'] : ['user'];
  try {
    await apiJson('/api/v1/admin/users', { method: 'POST', body: { username, password, roles } });
    $('#user-form').reset();
    notify('info', `User “${username}” created.`);
    await loadUsers();
  } catch (error) {
    notify('error', `Could not create the user: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Teams: admins create, edit, delete; admins and team admins manage members

/** Numbers from form fields; empty means no limit (`null`). */
function numberField(selector) {
  const text = $(selector).value.trim();
  return text === '' ? null : Number(text);
}
function listField(selector) {
  const items = $(selector)
    .value.split(/[\s,]+/)
    .map((item) => item.trim())
    .filter(Boolean);
  return items.length ? items : null;
}

/**
 * The limits a team and a key share (the server's policy limits), as form fields named
 * `#<prefix>-rpm`, `#<prefix>-daily-tokens`, ...: one mapping for both forms.
 */
const LIMIT_FIELDS = {
  rpm: 'rpm',
  dailyTokens: 'daily-tokens',
  monthlyTokens: 'monthly-tokens',
  dailyUsd: 'daily-usd',
  monthlyUsd: 'monthly-usd',
};
function showLimits(prefix, policy) {
  for (const [field, id] of Object.entries(LIMIT_FIELDS)) {
    $(`#${prefix}-${id}`).value = policy[field] ?? '';
  }
  $(`#${prefix}-models`).value = policy.models?.join(', ') ?? '';
}
function readLimits(prefix) {
  const limits = { models: listField(`#${prefix}-models`) };
  for (const [field, id] of Object.entries(LIMIT_FIELDS)) {
    limits[field] = numberField(`#${prefix}-${id}`);
  }
  return limits;
}

function limitsText(policy) {
  const parts = [
    ['requests', policy.rpm, formatNumber, '/min'],
    ['tokens', policy.dailyTokens, formatNumber, '/day'],
    ['tokens', policy.monthlyTokens, formatNumber, '/month'],
    ['', policy.dailyUsd, formatUsd, '/day'],
    ['', policy.monthlyUsd, formatUsd, '/month'],
  ]
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([unit, value, format, per]) => `${format(value)}${unit ? ` ${unit}` : ''}${per}`);
  return parts.length ? parts.join(' · ') : 'no limits';
}

let teamDetails = []; // admins: GET /api/v1/admin/teams (with limits)
let selectedTeam = null;

async function loadTeams() {
  session.teams = await loadMyTeams();
  teamDetails = session.isAdmin ? await apiJson('/api/v1/admin/teams') : [];
  const rows = managedTeams()
    .concat(session.teams.filter((team) => !managedTeams().includes(team)))
    .map((team) =>
      teamRow(
        team,
        teamDetails.find((detail) => detail.id === team.id),
      ),
    );
  fillTable($('#teams-rows'), rows, 'No teams yet.');
  $('#team-editor').hidden = !session.isAdmin;
  const still = session.teams.find((team) => team.id === selectedTeam?.id);
  if (still) await selectTeam(still);
  else {
    selectedTeam = null;
    $('#team-members').hidden = true;
    if (session.isAdmin) editTeam(null);
  }
}

function teamRow(team, detail) {
  const manages = team.role === 'team_admin' || team.role === 'admin';
  const manage = manages
    ? actionButton('Manage', `Manage team ${team.name}`, () => void selectTeam(team).catch(failed))
    : el('span', { className: 'hint', textContent: '–' });
  return tableRow([
    el('strong', { textContent: team.name }),
    team.role.replace('_', ' '),
    detail ? limitsText(detail) : '–',
    detail ? (detail.models?.join(', ') ?? 'all') : '–',
    detail ? (detail.logContent ? 'on' : 'off') : '–',
    manage,
  ]);
}

function editTeam(team) {
  const detail = team && teamDetails.find((item) => item.id === team.id);
  $('#team-form').reset();
  $('#team-form-title').textContent = detail ? `Edit team ${detail.name}` : 'New team';
  $('#team-save').textContent = detail ? 'Save team' : 'Create team';
  $('#team-new').hidden = !detail;
  $('#team-delete').hidden = !detail;
  if (!detail) return;
  $('#team-name').value = detail.name;
  showLimits('team', detail);
  $('#team-log-content').checked = Boolean(detail.logContent);
}

async function saveTeam(event) {
  event.preventDefault();
  const body = {
    name: $('#team-name').value.trim(),
    ...readLimits('team'),
    logContent: $('#team-log-content').checked,
  };
  const editing = selectedTeam && session.isAdmin && !$('#team-delete').hidden;
  try {
    if (editing) {
      await apiJson(`/api/v1/admin/teams/${segment(selectedTeam.id)}`, { method: 'PATCH', body });
      notify('info', `Team “${body.name}” saved.`);
    } else {
      // A new team: unset limits are left out (the API's default is no limit).
      const created = await apiJson('/api/v1/admin/teams', {
        method: 'POST',
        body: Object.fromEntries(Object.entries(body).filter(([, value]) => value !== null)),
      });
      selectedTeam = { id: created.id, name: created.name, role: 'admin' };
      notify('info', `Team “${created.name}” created.`);
    }
    await loadTeams();
  } catch (error) {
    notify('error', `Could not save the team: ${error.message}`);
  }
}

async function deleteTeam() {
  const team = selectedTeam;
  if (!team || !confirm(`Delete the team “${team.name}”? Its keys stop working.`)) return;
  try {
    await apiJson(`/api/v1/admin/teams/${segment(team.id)}`, { method: 'DELETE' });
    selectedTeam = null;
    notify('info', `Team “${team.name}” deleted.`);
    await loadTeams();
  } catch (error) {
    notify('error', `Could not delete the team: ${error.message}`);
  }
}

async function selectTeam(team) {
  selectedTeam = team;
  if (session.isAdmin) editTeam(team);
  $('#members-title').textContent = `Members of ${team.name}`;
  $('#team-members').hidden = false;
  const [members, users] = await Promise.all([
    apiJson(`/api/v1/teams/${segment(team.id)}/members`),
    people(),
  ]);
  fillTable(
    $('#members-rows'),
    members.map((member) => memberRow(team, member)),
    'No members yet.',
  );
  const outside = users.filter((user) => !members.some((member) => member.userId === user.id));
  $('#member-user-options').replaceChildren(...outside.map((user) => new Option(user.username)));
}

function memberRow(team, member) {
  const role = el('select', {});
  role.append(new Option('member', 'member'), new Option('team admin', 'team_admin'));
  role.value = member.role;
  role.setAttribute('aria-label', `Team role of ${member.username}`);
  role.addEventListener('change', () => void setMember(team, member, role.value));
  const remove = actionButton(
    'Remove',
    `Remove ${member.username} from the team`,
    () => void removeMember(team, member),
    'button danger small',
  );
  return tableRow([
    el('strong', { textContent: member.username }),
    role,
    formatDate(member.addedAt),
    remove,
  ]);
}

async function setMember(team, member, role) {
  try {
    await apiJson(`/api/v1/teams/${segment(team.id)}/members/${segment(member.userId)}`, {
      method: 'PUT',
      body: { role },
    });
    notify('info', `${member.username} is now ${role.replace('_', ' ')} of “${team.name}”.`);
  } catch (error) {
    notify('error', `Could not change the role: ${error.message}`);
  }
  await selectTeam(team).catch(failed);
}

async function removeMember(team, member) {
  if (!confirm(`Remove ${member.username} from “${team.name}”?`)) return;
  try {
    await apiJson(`/api/v1/teams/${segment(team.id)}/members/${segment(member.userId)}`, {
      method: 'DELETE',
    });
    notify('info', `${member.username} removed from “${team.name}”.`);
  } catch (error) {
    notify('error', `Could not remove the member: ${error.message}`);
  }
  await selectTeam(team).catch(failed);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function addMember(event) {
  event.preventDefault();
  const team = selectedTeam;
  const who = $('#member-user').value.trim();
  if (!team || !who) return;
  // By name (admins pick from the user list, team admins type it), or by id when it is one.
  const user = UUID.test(who) ? { userId: who } : { username: who };
  try {
    const member = await apiJson(`/api/v1/teams/${segment(team.id)}/members`, {
      method: 'POST',
      body: { ...user, role: $('#member-role').value },
    });
    $('#member-form').reset();
    notify('info', `${member.username} is now ${member.role.replace('_', ' ')} of “${team.name}”.`);
  } catch (error) {
    notify('error', `Could not add the member: ${error.message}`);
  }
  await selectTeam(team).catch(failed);
}

// ---------------------------------------------------------------------------------------------
// Keys: own keys with policy, team keys, every key (admins)

function policyText(key) {
  const parts = [limitsText(key)];
  if (key.models?.length) parts.push(key.models.join(', '));
  if (key.allowedCidrs?.length) parts.push(`from ${key.allowedCidrs.join(', ')}`);
  return parts.join(' · ');
}

const spendText = (tokens, usd) =>
  tokens === undefined ? '–' : `${formatNumber(tokens)} tokens · ${formatUsd(usd)}`;

async function loadKeysPage() {
  const teams = managedTeams();
  fillSelect($('#pk-owner'), [
    ['Me (personal key)', ''],
    ...teams.map((team) => [`Team ${team.name}`, team.id]),
  ]);
  $('#team-keys').hidden = teams.length === 0;
  fillSelect(
    $('#team-keys-team'),
    teams.map((team) => [team.name, team.id]),
  );
  $('#admin-keys').hidden = !session.isAdmin;
  const jobs = [loadOwnKeys()];
  if (teams.length) jobs.push(loadTeamKeys());
  if (session.isAdmin) {
    fillSelect($('#admin-keys-user'), [
      ['Any user', ''],
      ...(await people()).map((user) => [user.username, user.id]),
    ]);
    fillSelect($('#admin-keys-team'), [
      ['Any team', ''],
      ...session.teams.map((team) => [team.name, team.id]),
    ]);
    jobs.push(loadAdminKeys());
  }
  await Promise.all(jobs);
}

async function loadOwnKeys() {
  const keys = await apiJson('/api/v1/keys');
  fillTable($('#own-keys-rows'), keys.map(ownKeyRow), 'No keys yet.');
}

function keyLabel(key) {
  return el(
    'div',
    { className: 'key-details' },
    el('strong', { textContent: key.name }),
    el('span', { className: 'hint', textContent: `${key.prefix}…` }),
  );
}

function ownKeyRow(key) {
  const actions = el(
    'div',
    { className: 'actions' },
    actionButton('Edit', `Edit key ${key.name}`, () =>
      editKey(key, `/api/v1/keys/${segment(key.id)}`),
    ),
    actionButton('Rotate', `Rotate key ${key.name}`, () => void rotateKey(key)),
    actionButton(
      'Revoke',
      `Revoke key ${key.name}`,
      () => void revoke(key, `/api/v1/keys/${segment(key.id)}`),
      'button danger small',
    ),
  );
  return tableRow([
    keyLabel(key),
    key.teamId ? teamName(key.teamId) : 'personal',
    policyText(key),
    formatTime(key.lastUsedAt),
    spendText(key.spend?.todayTokens, key.spend?.todayUsd),
    spendText(key.spend?.monthTokens, key.spend?.monthUsd),
    key.expiresAt ? formatDate(key.expiresAt) : 'never',
    actions,
  ]);
}

async function loadTeamKeys() {
  const teamId = $('#team-keys-team').value;
  if (!teamId) return;
  const keys = await apiJson(`/api/v1/teams/${segment(teamId)}/keys`);
  const row = (key) =>
    tableRow([
      keyLabel(key),
      policyText(key),
      formatTime(key.lastUsedAt),
      spendText(key.spend?.monthTokens, key.spend?.monthUsd),
      key.expiresAt ? formatDate(key.expiresAt) : 'never',
      el(
        'div',
        { className: 'actions' },
        actionButton('Edit', `Edit team key ${key.name}`, () =>
          editKey(key, `/api/v1/teams/${segment(teamId)}/keys/${segment(key.id)}`),
        ),
        actionButton(
          'Revoke',
          `Revoke team key ${key.name}`,
          () => void revoke(key, `/api/v1/teams/${segment(teamId)}/keys/${segment(key.id)}`),
          'button danger small',
        ),
      ),
    ]);
  fillTable($('#team-keys-rows'), keys.map(row), 'This team has no keys.');
}

async function loadAdminKeys() {
  const filter = query({
    userId: $('#admin-keys-user').value,
    teamId: $('#admin-keys-team').value,
  });
  const keys = await apiJson(`/api/v1/admin/keys${filter}`);
  const row = (key) =>
    tableRow([
      keyLabel(key),
      key.username ?? key.userId,
      key.teamId ? teamName(key.teamId) : 'personal',
      formatTime(key.lastUsedAt),
      spendText(key.spend?.monthTokens, key.spend?.monthUsd),
      key.disabled ? 'disabled' : 'active',
      el(
        'div',
        { className: 'actions' },
        actionButton('Edit', `Edit key ${key.name} of ${key.username ?? key.userId}`, () =>
          editKey(key, `/api/v1/admin/keys/${segment(key.id)}`),
        ),
        actionButton(
          key.disabled ? 'Enable' : 'Disable',
          `${key.disabled ? 'Enable' : 'Disable'} key ${key.name} of ${key.username ?? key.userId}`,
          () => void setKeyDisabled(key, !key.disabled),
        ),
        actionButton(
          'Revoke',
          `Revoke key ${key.name} of ${key.username ?? key.userId}`,
          () => void revoke(key, `/api/v1/admin/keys/${segment(key.id)}`),
          'button danger small',
        ),
      ),
    ]);
  fillTable($('#admin-keys-rows'), keys.map(row), 'No keys match.');
}

async function setKeyDisabled(key, disabled) {
  try {
    await apiJson(`/api/v1/admin/keys/${segment(key.id)}`, { method: 'PATCH', body: { disabled } });
    notify('info', `Key “${key.name}” ${disabled ? 'disabled' : 'enabled'}.`);
    await loadKeysPage();
  } catch (error) {
    notify('error', `Could not change the key: ${error.message}`);
  }
}

async function revoke(key, path) {
  if (!confirm(`Revoke the key “${key.name}”? Programs using it stop working at once.`)) return;
  try {
    await api(path, { method: 'DELETE' });
    notify('info', `Key “${key.name}” revoked.`);
    await loadKeysPage();
  } catch (error) {
    notify('error', `Could not revoke the key: ${error.message}`);
  }
}

function showSecret(note, secret) {
  $('#pk-secret-note').textContent = note;
  $('#pk-secret-value').textContent = secret;
  $('#pk-secret').hidden = false;
  $('#pk-copy').focus();
}

function hideSecret() {
  $('#pk-secret-value').textContent = '';
  $('#pk-secret').hidden = true;
  $('#pk-name').focus();
}

async function copySecret() {
  try {
    await navigator.clipboard.writeText($('#pk-secret-value').textContent);
    notify('info', 'Key copied to the clipboard.');
  } catch {
    window.getSelection().selectAllChildren($('#pk-secret-value'));
    notify('warn', 'Copying is blocked here: the key is selected, press Ctrl+C (⌘C) to copy it.');
  }
}

/** The key the form edits (and the route that changes it), or null: the form creates keys. */
let editingKey = null;

/** Turns the create form into an editor of `key`'s name and policy (null: back to creating). */
function editKey(key, path) {
  editingKey = key ? { key, path } : null;
  $('#policy-key-form').reset();
  $('#pk-name-label').textContent = key
    ? `Name of the key (editing “${key.name}”)`
    : 'Name of the new key';
  $('#pk-submit').textContent = key ? 'Save key' : 'Create key';
  $('#pk-cancel').hidden = !key;
  // Owner, team and expiry are fixed at creation.
  $('#pk-owner').disabled = Boolean(key);
  $('#pk-expires').disabled = Boolean(key);
  if (!key) return;
  $('#pk-name').value = key.name;
  if (key.teamId) $('#pk-owner').value = key.teamId;
  showLimits('pk', key);
  $('#pk-cidrs').value = key.allowedCidrs?.join(', ') ?? '';
  $('#pk-name').focus();
}

function policyFields() {
  return {
    name: $('#pk-name').value.trim(),
    ...readLimits('pk'),
    allowedCidrs: listField('#pk-cidrs'),
  };
}

function submitPolicyKey(event) {
  event.preventDefault();
  void (editingKey ? saveKey(editingKey) : createPolicyKey());
}

async function saveKey({ key, path }) {
  try {
    // Every field is sent: an emptied one lifts its limit (null).
    const saved = await apiJson(path, { method: 'PATCH', body: policyFields() });
    editKey(null);
    notify('info', `Key “${saved.name}” saved.`);
    await loadKeysPage();
  } catch (error) {
    notify('error', `Could not save the key “${key.name}”: ${error.message}`);
  }
}

async function createPolicyKey() {
  const expires = $('#pk-expires').value;
  const body = {
    ...policyFields(),
    teamId: $('#pk-owner').value || null,
    // The end of the chosen day, UTC.
    expiresAt: expires ? new Date(`${expires}T23:59:59.999Z`).toISOString() : null,
  };
  try {
    const created = await apiJson('/api/v1/keys', {
      method: 'POST',
      body: Object.fromEntries(Object.entries(body).filter(([, value]) => value !== null)),
    });
    $('#policy-key-form').reset();
    showSecret(
      `Key “${created.name}” created. Copy it now: Keyward shows it only once.`,
      created.key,
    );
    notify('info', `Key “${created.name}” created.`);
    await loadKeysPage();
  } catch (error) {
    notify('error', `Could not create the key: ${error.message}`);
  }
}

async function rotateKey(key) {
  const graceSeconds = Number($('#pk-grace').value) || 0;
  const when = graceSeconds ? `in ${graceSeconds} s` : 'at once';
  if (!confirm(`Rotate the key “${key.name}”? Its old secret stops working ${when}.`)) return;
  try {
    const rotated = await apiJson(`/api/v1/keys/${segment(key.id)}/rotate`, {
      method: 'POST',
      body: { graceSeconds },
    });
    showSecret(
      `New secret for “${rotated.name}”. Copy it now: it is shown only once.`,
      rotated.key,
    );
    notify('info', `Key “${rotated.name}” rotated.`);
    await loadOwnKeys();
  } catch (error) {
    notify('error', `Could not rotate the key: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Spend: series per team/user/model/key over days, drawn with uPlot (served from /vendor)

/** Admins may see all of Keyward; everyone here may see the teams they manage. */
function scopePairs() {
  const teams = managedTeams().map((team) => [`Team ${team.name}`, team.id]);
  return session.isAdmin ? [['All of Keyward', ''], ...teams] : teams;
}

function fillGroupBy() {
  const team = $('#spend-scope').value;
  const groups = team ? ['user', 'model', 'key'] : ['team', 'user', 'model', 'key'];
  fillSelect(
    $('#spend-group'),
    groups.map((group) => [group, group]),
  );
}

async function prepareSpend() {
  fillSelect($('#spend-scope'), scopePairs());
  fillGroupBy();
  await loadSpend();
}

/** Since `days` days ago at 00:00 UTC, until now. */
function rangeOf(days) {
  const since = new Date();
  since.setUTCHours(0, 0, 0, 0);
  since.setUTCDate(since.getUTCDate() - (days - 1));
  return { since: since.toISOString(), until: new Date().toISOString() };
}

const MEASURES = {
  costUsd: { label: 'Cost (USD)', of: (point) => point.costUsd, format: formatUsd },
  tokens: {
    label: 'Tokens',
    of: (point) => point.promptTokens + point.completionTokens,
    format: formatNumber,
  },
  requests: { label: 'Requests', of: (point) => point.requests, format: formatNumber },
};
const COLOURS = ['#2457d6', '#d9480f', '#2b8a3e', '#ae3ec9', '#e8590c', '#0b7285', '#c2255c'];

let chart = null;
let chartSize = null;

async function loadSpend() {
  const team = $('#spend-scope').value;
  const groupBy = $('#spend-group').value;
  const measure = MEASURES[$('#spend-measure').value];
  const days = Number($('#spend-range').value);
  const base = team ? `/api/v1/teams/${segment(team)}/spend` : '/api/v1/admin/spend';
  const report = await apiJson(`${base}${query({ groupBy, bucket: 'day', ...rangeOf(days) })}`);
  drawSpend(report, measure, days);
  const total = (series, of) => series.points.reduce((sum, point) => sum + of(point), 0);
  $('#spend-series-head').textContent = groupBy[0].toUpperCase() + groupBy.slice(1);
  fillTable(
    $('#spend-rows'),
    report.series.map((series) =>
      tableRow([
        el('strong', { textContent: series.label ?? series.key }),
        formatNumber(total(series, (p) => p.requests)),
        formatNumber(total(series, (p) => p.promptTokens)),
        formatNumber(total(series, (p) => p.completionTokens)),
        formatUsd(total(series, (p) => p.costUsd)),
      ]),
    ),
    'Nothing spent in this range.',
  );
  const all = report.series.reduce((sum, series) => sum + total(series, measure.of), 0);
  $('#spend-summary').textContent =
    `${measure.label} per day by ${groupBy}, last ${days} days: ${measure.format(all)} in all.`;
}

/** One x value per day of the range; a series without a point on a day spent nothing. */
function drawSpend(report, measure, days) {
  const start = Date.parse(rangeOf(days).since) / 1000;
  const xs = Array.from({ length: days }, (_, i) => start + i * 86_400);
  const ys = report.series.map((series) => {
    const byDay = new Map(series.points.map((point) => [Date.parse(point.t) / 1000, point]));
    return xs.map((x) => (byDay.has(x) ? measure.of(byDay.get(x)) : 0));
  });
  const container = $('#spend-chart');
  chart?.destroy();
  const width = Math.max(container.clientWidth, 280);
  chartSize = { width, height: 300 };
  // Axes in the page's colours (light or dark scheme): uPlot's default is black.
  const style = getComputedStyle(document.body);
  const axis = { stroke: style.color, grid: { stroke: style.getPropertyValue('--border') } };
  chart = new uPlot(
    {
      ...chartSize,
      title: `${measure.label} per day`,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      scales: { x: { time: true } },
      axes: [
        // One tick per day at most, labelled with the date (the buckets are UTC days).
        {
          ...axis,
          space: 60,
          incrs: [86_400, 7 * 86_400, 30 * 86_400],
          values: (_u, ticks) => ticks.map((tick) => formatDate(tick * 1000).slice(5)),
        },
        { ...axis, values: (_u, ticks) => ticks.map((tick) => measure.format(tick)), size: 80 },
      ],
      series: [
        { label: 'Day', value: (_u, value) => (value === null ? '–' : formatDate(value * 1000)) },
        ...report.series.map((series, i) => ({
          label: series.label ?? series.key,
          stroke: COLOURS[i % COLOURS.length],
          width: 2,
          points: { show: true },
          value: (_u, value) => (value === null ? '–' : measure.format(value)),
        })),
      ],
    },
    [xs, ...ys],
    container,
  );
  container.setAttribute(
    'aria-label',
    `${measure.label} per day by series; the table below has the totals`,
  );
  container.setAttribute('role', 'img');
}

// Keep the chart as wide as its card.
new ResizeObserver(() => {
  const width = Math.max($('#spend-chart').clientWidth, 280);
  if (chart && chartSize && width !== chartSize.width) {
    chartSize = { width, height: chartSize.height };
    chart.setSize(chartSize);
  }
}).observe($('#spend-chart'));

// ---------------------------------------------------------------------------------------------
// Requests: the request log, filtered, a page at a time (cursor), CSV export

let nextCursor = null;

async function prepareRequests() {
  fillSelect($('#req-scope'), scopePairs());
  await fillRequestUsers();
  await loadRequests();
}

/** Admins on all of Keyward pick from every user; in a team, from its members. */
async function fillRequestUsers() {
  const team = $('#req-scope').value;
  const people = team
    ? (await apiJson(`/api/v1/teams/${segment(team)}/members`)).map((m) => [m.username, m.userId])
    : (await allUsers()).map((user) => [user.username, user.id]);
  fillSelect($('#req-user'), [['Any user', ''], ...people]);
}

function requestFilters() {
  const since = $('#req-since').value;
  const until = $('#req-until').value;
  return {
    userId: $('#req-user').value,
    keyId: $('#req-key').value.trim(),
    model: $('#req-model').value.trim(),
    status: $('#req-status').value.trim(),
    since: since ? `${since}T00:00:00.000Z` : '',
    until: until ? `${until}T23:59:59.999Z` : '',
  };
}

function requestsPath() {
  const team = $('#req-scope').value;
  return team ? `/api/v1/teams/${segment(team)}/requests` : '/api/v1/admin/requests';
}

async function loadRequests(cursor = null) {
  const limit = $('#req-limit').value;
  const page = await apiJson(`${requestsPath()}${query({ ...requestFilters(), limit, cursor })}`);
  const rows = page.requests.map(requestRow);
  if (cursor) $('#requests-rows').append(...rows);
  else fillTable($('#requests-rows'), rows, 'No requests match.');
  nextCursor = page.nextCursor;
  $('#req-more').hidden = !nextCursor;
}

function requestRow(row) {
  const ms = [row.keywardMs, row.upstreamMs, row.ttftMs].map((v) => (v === null ? '–' : v));
  const model = row.content
    ? el(
        'details',
        {},
        el('summary', { textContent: row.model }),
        el('pre', { className: 'content', textContent: JSON.stringify(row.content, null, 2) }),
      )
    : row.model;
  const tr = tableRow([
    el('time', { dateTime: row.time, textContent: formatTime(row.time).replace(' UTC', '') }),
    row.username ?? row.userId,
    row.keyId ? `${row.keyId.slice(0, 8)}…` : '–',
    row.teamId ? teamName(row.teamId) : '–',
    row.route,
    model,
    String(row.status),
    `${formatNumber(row.promptTokens)} (${formatNumber(row.cachedTokens)})`,
    `${formatNumber(row.completionTokens)} (${formatNumber(row.reasoningTokens)})`,
    formatUsd(row.costUsd),
    `${ms.join(' / ')}${row.stream ? ' · stream' : ''}`,
  ]);
  tr.dataset.status = String(row.status);
  return tr;
}

/** `Accept: text/csv` on the same route and filters: every matching row, no cursor. */
async function exportCsv() {
  const response = await api(`${requestsPath()}${query(requestFilters())}`, {
    accept: 'text/csv',
  });
  const url = URL.createObjectURL(await response.blob());
  const link = el('a', {
    href: url,
    download: `keyward-requests-${new Date().toISOString().slice(0, 10)}.csv`,
  });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  notify('info', 'The CSV export is downloading.');
}
