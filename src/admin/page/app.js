// tracegate admin page. Plain JavaScript served as is (no build step). Talks only to the
// admin API on this origin with the pasted bearer token, kept in sessionStorage (this
// tab only). Everything from the API is written with textContent, never innerHTML:
// statements and subjects are attacker-chosen text.
//
// The approval queue polls every 1.5 s and updates cards in place (keyed by request id),
// so a reason being typed, or the keyboard focus, survives the refresh.

const TOKEN_KEY = 'tracegate.admin.token';
const QUEUE_MS = 1500;
const LIVE_MS = 5000;

const $ = (id) => document.getElementById(id);

const state = {
  roles: { admin: false, approver: false },
  cards: new Map(),
  timers: [],
  revokeTarget: null,
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path, { method = 'GET', body, as = 'json' } = {}) {
  const headers = { authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  if (!res.ok) {
    let err = { error: 'http', message: `HTTP ${res.status}` };
    try {
      err = await res.json();
    } catch {
      // Not our JSON error shape (a proxy in between): keep the status line.
    }
    if (res.status === 401) signOut(`Signed out: ${err.message}`);
    throw new ApiError(res.status, err.error, err.message);
  }
  return as === 'text' ? res.text() : res.json();
}

function say(message, kind = 'info') {
  const box = $('status');
  // A polling error repeats every 1.5 s; rewriting the live region would re-announce it.
  if (box.textContent === message && box.dataset.kind === kind) return;
  box.textContent = message;
  box.dataset.kind = kind;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function age(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function time(ms) {
  return new Date(ms).toLocaleString();
}

// ---- sign in / out ------------------------------------------------------------------

async function signIn() {
  try {
    const me = await api('/api/whoami');
    state.roles = me.roles;
    $('who').textContent = `${me.subject} (${me.groups.join(', ') || 'no groups'})`;
    $('signin').hidden = true;
    $('sign-out').hidden = false;
    const staff = me.roles.admin || me.roles.approver;
    $('approvals').hidden = !staff;
    for (const id of ['sessions', 'grants', 'recorded']) $(id).hidden = !me.roles.admin;
    if (!staff) say(`${me.subject} is in neither the approver nor the admin groups: nothing to show.`, 'error');
    else say(`Signed in as ${me.subject}.`);
    startPolling();
  } catch (err) {
    if (err.status !== 401) say(`Sign-in failed: ${err.message}`, 'error');
  }
}

function signOut(message = 'Signed out.') {
  sessionStorage.removeItem(TOKEN_KEY);
  for (const t of state.timers) clearInterval(t);
  state.timers = [];
  state.cards.clear();
  $('approvals-list').replaceChildren();
  for (const id of ['approvals', 'sessions', 'grants', 'recorded']) $(id).hidden = true;
  $('signin').hidden = false;
  $('sign-out').hidden = true;
  $('who').textContent = '';
  say(message);
  $('token').focus();
}

function startPolling() {
  const every = (fn, ms) => {
    let busy = false;
    const tick = async () => {
      // A slow answer must not pile requests up behind it.
      if (busy) return;
      busy = true;
      try {
        await fn();
      } catch (err) {
        if (err.status !== 401) say(err.message, 'error');
      } finally {
        busy = false;
      }
    };
    void tick();
    state.timers.push(setInterval(tick, ms));
  };
  if (state.roles.admin || state.roles.approver) every(refreshApprovals, QUEUE_MS);
  if (state.roles.admin) every(() => refreshLive(), LIVE_MS);
}

// ---- approval queue -------------------------------------------------------------------

async function refreshApprovals() {
  const { approvals } = await api('/api/approvals');
  const seen = new Set();
  const list = $('approvals-list');
  for (const a of approvals) {
    seen.add(a.id);
    let card = state.cards.get(a.id);
    if (!card) {
      card = approvalCard(a);
      state.cards.set(a.id, card);
      list.append(card.root);
    }
    card.age.textContent = age(a.ageMs);
    card.votes.textContent = `${a.approvals.length} of ${a.quorum}` + (a.approvals.length ? ` (${a.approvals.map((v) => v.by).join(', ')})` : '');
  }
  for (const [id, card] of state.cards) {
    if (seen.has(id)) continue;
    const hadFocus = card.root.contains(document.activeElement);
    card.root.remove();
    state.cards.delete(id);
    if (hadFocus) $('approvals-h').focus();
  }
  $('approvals-count').textContent = approvals.length ? `(${approvals.length})` : '';
  $('approvals-empty').hidden = approvals.length > 0;
}

function approvalCard(a) {
  const reasonId = `reason-${a.id}`;
  const ageCell = el('dd');
  const votes = el('dd');
  const reason = el('input', { id: reasonId, maxlength: '500', autocomplete: 'off' });
  const act = (kind) => async () => {
    for (const b of buttons) b.disabled = true;
    try {
      const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
      const { approval } = await api(`/api/approvals/${encodeURIComponent(a.id)}/${kind}`, { method: 'POST', body });
      const done = approval.state === 'pending' ? `recorded; ${approval.approvals.length} of ${approval.quorum} approvals` : approval.state;
      say(`Request ${a.id}: ${done}.`);
      await refreshApprovals();
    } catch (err) {
      say(`Request ${a.id}: ${err.message}`, 'error');
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  };
  const buttons = [
    el('button', { type: 'button', class: 'approve', onclick: act('approve') }, 'Approve'),
    el('button', { type: 'button', class: 'danger', onclick: act('deny') }, 'Deny'),
  ];
  const headingId = `approval-${a.id}`;
  const root = el(
    'li',
    { class: 'card', 'aria-labelledby': headingId },
    el('h3', { id: headingId, text: `${a.requester.subject} → trace ${a.traceId}` }),
    el(
      'dl',
      {},
      el('dt', { text: 'Request' }), el('dd', { text: a.id }),
      el('dt', { text: 'Rule' }), el('dd', { text: a.rule }),
      el('dt', { text: 'Why approval' }), el('dd', { text: a.reason ?? '—' }),
      el('dt', { text: 'Requester groups' }), el('dd', { text: a.requester.groups.join(', ') || '—' }),
      el('dt', { text: 'Approvers' }), el('dd', { text: a.approverGroups.join(', ') }),
      el('dt', { text: 'Approvals' }), votes,
      el('dt', { text: 'Waiting' }), ageCell,
    ),
    el('pre', { class: 'sql', 'aria-label': 'Statement', text: a.statement }),
    el('div', { class: 'row' }, el('label', { for: reasonId, text: 'Reason (optional)' }), reason, ...buttons),
  );
  return { root, age: ageCell, votes };
}

// ---- live sessions, grants, revoke ------------------------------------------------------

async function refreshLive(force = false) {
  // Rebuilding the rows under a keyboard user's focus would throw it back to the page
  // top every 5 s: wait until focus leaves the tables (a revoke refreshes with force).
  const focus = document.activeElement;
  if (!force && ($('sessions').contains(focus) || $('grants').contains(focus) || $('revoke-dialog').open)) return;
  const [{ sessions }, { grants }] = await Promise.all([api('/api/sessions'), api('/api/grants')]);
  $('sessions-body').replaceChildren(
    ...sessions.map((s) =>
      el(
        'tr',
        {},
        el('td', { text: s.subject }),
        el('td', { text: s.id, class: 'mono' }),
        el('td', { text: s.clientAddress }),
        el('td', { text: s.applicationName || '—' }),
        el('td', { text: age(s.ageMs) }),
        el(
          'td',
          { class: 'actions' },
          el('button', { type: 'button', class: 'danger', onclick: () => askRevoke({ session: s.id }, `session ${s.id} of ${s.subject}`) }, 'End session'),
          el('button', { type: 'button', class: 'danger', onclick: () => askRevoke({ subject: s.subject }, `every session and login of ${s.subject}`) }, 'Revoke subject'),
        ),
      ),
    ),
  );
  $('sessions-empty').hidden = sessions.length > 0;
  $('grants-body').replaceChildren(
    ...grants.map((g) =>
      el(
        'tr',
        {},
        el('td', { text: g.subject }),
        el('td', { text: g.traceId }),
        el('td', { text: g.rule }),
        el('td', { text: g.sessionId, class: 'mono' }),
        el('td', { text: age(g.remainingMs) }),
        el(
          'td',
          { class: 'actions' },
          el('button', { type: 'button', class: 'danger', onclick: () => askRevoke({ session: g.sessionId }, `session ${g.sessionId} of ${g.subject}`) }, 'End session'),
        ),
      ),
    ),
  );
  $('grants-empty').hidden = grants.length > 0;
}

function askRevoke(target, description) {
  state.revokeTarget = target;
  $('revoke-what').textContent = `Revoke ${description}. Open sessions end at once; new logins are refused until the time below.`;
  $('revoke-reason').value = '';
  $('revoke-until').value = '';
  $('revoke-dialog').showModal();
  $('revoke-reason').focus();
}

async function submitRevoke(event) {
  event.preventDefault();
  const dialog = $('revoke-dialog');
  if (event.submitter?.value === 'cancel') {
    dialog.close();
    return;
  }
  if (!$('revoke-form').reportValidity()) return;
  const body = { ...state.revokeTarget, reason: $('revoke-reason').value.trim() };
  const until = $('revoke-until').value.trim();
  if (until) body.until = until;
  try {
    const { revocation, sessionsEnded } = await api('/api/revoke', { method: 'POST', body });
    dialog.close();
    say(`Revoked (${revocation.id}) until ${time(revocation.until)}; ${sessionsEnded} session(s) ended.`);
    await refreshLive(true);
  } catch (err) {
    say(`Revoke failed: ${err.message}`, 'error');
  }
}

// ---- recordings -----------------------------------------------------------------------

async function search(event) {
  event.preventDefault();
  const params = new URLSearchParams();
  for (const [key, id] of [['subject', 'search-subject'], ['trace', 'search-trace'], ['since', 'search-since']]) {
    const v = $(id).value.trim();
    if (v) params.set(key, v);
  }
  try {
    const { sessions } = await api(`/api/sessions/recorded?${params}`);
    $('recorded-body').replaceChildren(
      ...sessions.map((s) =>
        el(
          'tr',
          {},
          el('td', { text: time(s.startedAt) }),
          el('td', { text: s.subject }),
          el('td', { text: String(s.statements) }),
          el('td', { text: String(s.denied) }),
          el('td', { text: s.traceIds.join(', ') || '—' }),
          el('td', { text: s.endedAt === null ? 'live' : `${time(s.endedAt)} (${s.endReason})` }),
          el('td', { class: 'actions' }, el('button', { type: 'button', onclick: () => replay(s.sessionId) }, 'Replay')),
        ),
      ),
    );
    say(`${sessions.length} recorded session(s).`);
  } catch (err) {
    say(`Search failed: ${err.message}`, 'error');
  }
}

async function replay(id) {
  try {
    $('replay-text').textContent = await api(`/api/sessions/${encodeURIComponent(id)}/replay`, { as: 'text' });
    $('replay-h').textContent = `Replay of session ${id}`;
    $('replay').hidden = false;
    $('replay-h').focus();
  } catch (err) {
    say(`Replay failed: ${err.message}`, 'error');
  }
}

// ---- start ----------------------------------------------------------------------------

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const value = $('token').value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  $('token').value = '';
  void signIn();
});
$('sign-out').addEventListener('click', () => signOut());
$('revoke-form').addEventListener('submit', submitRevoke);
$('search-form').addEventListener('submit', search);

if (token()) void signIn();
