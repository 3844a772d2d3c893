/**
 * The Sluice Portal's console: plain ES module, no build step. Talks to the admin
 * API on this origin (`/api/v1/`), and to the gateway's WebSocket listener through
 * the JavaScript SDK that listener serves (`/sdk/sluice.js`) for the live tail and
 * the test publish.
 */
import { drawLine, formatNumber } from './charts.js';

const TOKEN_KEY = 'sluice-admin-token';
/** Rows kept in the live tail's table. */
const TAIL_ROWS_MAX = 200;
/** How often the visible tab is refreshed. */
const REFRESH_MS = 1000;

/** @typedef {{ error: string, message: string }} ApiErrorBody */

class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** @param {string} id */
function el(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`no element #${id}`);
  return found;
}
/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ (el(id));
/** @param {string} id */
const tbody = (id) => /** @type {HTMLTableSectionElement} */ (el(id).querySelector('tbody'));

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string)[]} [children]
 */
function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/** @param {string} text @param {string} [cls] */
const td = (text, cls) => h('td', cls ? { class: cls } : {}, [text]);

/** @param {string} message @param {boolean} [error] */
function notify(message, error = false) {
  const notice = el('notice');
  notice.textContent = message;
  notice.classList.toggle('error', error);
  notice.hidden = false;
  clearTimeout(notifyTimer);
  notifyTimer = setTimeout(() => (notice.hidden = true), error ? 10000 : 4000);
}
/** @type {ReturnType<typeof setTimeout> | undefined} */
let notifyTimer;

/**
 * Calls the admin API; throws `ApiError` with the answer's code.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401) {
    el('login').hidden = false;
    el('login').scrollIntoView();
  }
  if (!response.ok) {
    throw new ApiError(response.status, answer.error ?? 'error', answer.message ?? response.statusText);
  }
  return answer;
}

/** @param {unknown} err */
function report(err) {
  const message = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
  notify(message, true);
}

// ---- info, tabs ---------------------------------------------------------------

/** @type {any} */
let info = null;

async function loadInfo() {
  info = await api('GET', '/api/v1/info');
  el('login').hidden = true;
  el('fact-broker').textContent = `broker: ${info.broker}`;
  el('fact-auth').textContent = `client auth: ${info.auth_mode}`;
  el('fact-ws').textContent = websocketUrl() ?? 'WebSocket listener not bound yet';
  el('not-durable').hidden = info.changes_durable;
  return info;
}

/** The gateway's WebSocket URL as this browser reaches it. */
function websocketUrl() {
  if (!info?.websocket_url) return null;
  const url = new URL(info.websocket_url);
  // A listener on every address: reach it by the host this page came from.
  if (url.hostname === '0.0.0.0' || url.hostname === '[::]') url.hostname = location.hostname;
  return url.toString();
}

const TABS = ['overview', 'topics', 'live', 'broker', 'tokens'];

function currentTab() {
  const tab = location.hash.slice(1);
  return TABS.includes(tab) ? tab : 'overview';
}

function showTab() {
  const tab = currentTab();
  for (const name of TABS) el(`tab-${name}`).hidden = name !== tab;
  for (const link of document.querySelectorAll('nav a')) {
    link.classList.toggle('active', link.getAttribute('data-tab') === tab);
  }
  refresh().catch(report);
}

async function refresh() {
  if (!info) return;
  switch (currentTab()) {
    case 'overview':
      return refreshStats();
    case 'topics':
      return refreshTopics();
    case 'broker':
      return refreshBroker();
  }
}

// ---- overview -------------------------------------------------------------------

/** @param {number} bytes */
function formatBytes(bytes) {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1 << 10) return `${(bytes / (1 << 10)).toFixed(1)} KiB`;
  return `${bytes} B`;
}

async function refreshStats() {
  const stats = await api('GET', '/api/v1/stats');
  /** @type {Record<string, number>} */
  const connections = stats.connections;
  const total = Object.values(connections).reduce((a, b) => a + b, 0);
  el('tile-connections').textContent = formatNumber(total);
  el('tile-transports').textContent = Object.entries(connections)
    .map(([t, n]) => `${t} ${n}`)
    .join(' · ');
  el('tile-deliveries').textContent = formatNumber(stats.deliveries_per_s);
  el('tile-deliveries-total').textContent = `${formatNumber(stats.deliveries_total)} since start`;
  el('tile-publishes').textContent = formatNumber(stats.publishes_per_s);
  el('tile-publishes-total').textContent = `${formatNumber(stats.publishes_total)} since start`;
  el('tile-slow').textContent = formatNumber(stats.slow_consumer_closes_total);
  const cache = stats.cache;
  el('tile-snapshot-cache').textContent = formatBytes(cache.snapshot_bytes);
  el('tile-snapshot-fill').textContent =
    `${cache.snapshot_entries} subjects · ${percent(cache.snapshot_bytes, cache.snapshot_bytes_max_per_shard * info.shards)} of ${formatBytes(cache.snapshot_bytes_max_per_shard * info.shards)}`;
  el('tile-message-cache').textContent = formatBytes(cache.message_bytes);
  el('tile-message-fill').textContent =
    `${cache.message_messages} messages · ${percent(cache.message_bytes, cache.message_bytes_max_per_shard * info.shards)} of ${formatBytes(cache.message_bytes_max_per_shard * info.shards)}`;
  /** @type {{ connections: number, deliveries_per_s: number, publishes_per_s: number }[]} */
  const history = stats.history;
  const seconds = Math.round((history.length * stats.interval_ms) / 1000);
  for (const [name, values] of /** @type {[string, number[]][]} */ ([
    ['connections', history.map((s) => s.connections)],
    ['deliveries', history.map((s) => s.deliveries_per_s)],
    ['publishes', history.map((s) => s.publishes_per_s)],
  ])) {
    const { max, last } = drawLine(/** @type {any} */ (el(`chart-${name}`)), values);
    el(`chart-${name}-scale`).textContent =
      `last ${seconds} s · now ${formatNumber(last)} · max ${formatNumber(max)}`;
  }
  const rates = tbody('rates-table');
  /** @type {{ name: string, records_per_s: number }[]} */
  const topics = stats.topics;
  rates.replaceChildren(
    ...(topics.length
      ? topics.map((t) => h('tr', {}, [td(t.name, 'mono'), td(formatNumber(t.records_per_s), 'num')]))
      : [h('tr', {}, [h('td', { class: 'empty', colspan: '2' }, ['no topics'])])]),
  );
}

/** @param {number} part @param {number} whole */
function percent(part, whole) {
  return whole > 0 ? `${((100 * part) / whole).toFixed(part && part * 1000 < whole ? 2 : 0)}%` : '–';
}

// ---- topics and patterns --------------------------------------------------------

async function refreshTopics() {
  const answer = await api('GET', '/api/v1/topics');
  /** @type {any[]} */
  const topics = answer.topics;
  const body = tbody('topics-table');
  body.replaceChildren(
    ...(topics.length
      ? topics.map((t) => {
          const status = t.ready
            ? h('span', { class: 'pill good' }, ['ready'])
            : h('span', { class: 'pill warn', title: 'waiting for the broker to announce it' }, ['starting']);
          const how = t.listed ? '' : ' (by pattern)';
          const browse = h('button', { class: 'secondary browse', type: 'button' }, ['Subjects']);
          browse.addEventListener('click', () => openSubjects(t.name).catch(report));
          const actions = h('td', { class: 'actions' }, [browse]);
          if (t.listed) {
            const stop = h('button', { class: 'danger unexpose', type: 'button' }, ['Stop']);
            stop.addEventListener('click', () => unexpose(t.name).catch(report));
            actions.append(' ', stop);
          }
          return h('tr', { 'data-topic': t.name }, [
            h('td', {}, [h('span', { class: 'mono' }, [t.name]), how, ' ', status]),
            td(String(t.partitions), 'num'),
            td(formatNumber(t.records_seen), 'num'),
            td(formatNumber(t.records_per_s), 'num'),
            td(formatNumber(t.subjects_with_snapshot), 'num'),
            td(formatNumber(t.subscribers), 'num'),
            actions,
          ]);
        })
      : [h('tr', {}, [h('td', { class: 'empty', colspan: '7' }, ['nothing exposed'])])]),
  );
  /** @type {{ regex: string, topics: string[] }[]} */
  const patterns = answer.patterns;
  const list = el('patterns-list');
  list.replaceChildren(
    ...(patterns.length
      ? patterns.map((p) => {
          const stop = h('button', { class: 'danger', type: 'button' }, ['Stop']);
          stop.addEventListener('click', () => stopPattern(p.regex).catch(report));
          const matching = p.topics.length ? `matches ${p.topics.join(', ')}` : 'matches no topic yet';
          return h('li', { 'data-regex': p.regex }, [
            h('span', { class: 'grow' }, [h('code', {}, [p.regex]), h('div', { class: 'hint' }, [matching])]),
            stop,
          ]);
        })
      : [h('li', { class: 'empty' }, ['no patterns'])]),
  );
}

async function expose() {
  const name = input('expose-name').value.trim();
  const answer = await api('PUT', `/api/v1/topics/${encodeURIComponent(name)}`);
  notify(answer.applied ? `${name} is exposed` : `${name} will be exposed once the gateway has read it`);
  input('expose-name').value = '';
  await refreshTopics();
}

/** @param {string} name */
async function unexpose(name) {
  await api('DELETE', `/api/v1/topics/${encodeURIComponent(name)}`);
  notify(`${name} is no longer exposed; its subscribers were told`);
  if (subjectsTopic === name) el('subjects-card').hidden = true;
  await refreshTopics();
}

async function addPattern() {
  const regex = input('pattern-regex').value;
  await api('PUT', '/api/v1/patterns', { regex });
  notify(`pattern ${regex} is exposed`);
  input('pattern-regex').value = '';
  await refreshTopics();
}

/** @param {string} regex */
async function stopPattern(regex) {
  await api('DELETE', `/api/v1/patterns?regex=${encodeURIComponent(regex)}`);
  notify(`pattern ${regex} is no longer exposed`);
  await refreshTopics();
}

// ---- subjects ---------------------------------------------------------------------

/** @type {string | null} */
let subjectsTopic = null;
/** @type {string | null} */
let subjectsCursor = null;

/** @param {string} topic */
async function openSubjects(topic) {
  subjectsTopic = topic;
  el('subjects-topic').textContent = topic;
  el('subjects-card').hidden = false;
  tbody('subjects-table').replaceChildren();
  subjectsCursor = null;
  await loadSubjects();
  el('subjects-card').scrollIntoView({ behavior: 'smooth' });
}

async function loadSubjects() {
  if (!subjectsTopic) return;
  const prefix = input('subjects-prefix').value;
  const query = new URLSearchParams({ prefix, limit: '50' });
  if (subjectsCursor) query.set('cursor', subjectsCursor);
  const page = await api('GET', `/api/v1/topics/${encodeURIComponent(subjectsTopic)}/subjects?${query}`);
  const body = tbody('subjects-table');
  /** @type {any[]} */
  const subjects = page.subjects;
  if (!subjectsCursor && subjects.length === 0) {
    body.replaceChildren(
      h('tr', {}, [
        h('td', { class: 'empty', colspan: '6' }, ['no subject with a snapshot or a subscriber']),
      ]),
    );
  }
  for (const s of subjects) {
    const tail = h('button', { class: 'secondary', type: 'button' }, ['Tail']);
    tail.addEventListener('click', () => {
      location.hash = '#live';
      input('tail-subject').value = s.subject;
      input('pub-subject').value = s.subject;
      startTail(s.subject).catch(report);
    });
    const snapshot =
      s.snapshot_preview === null
        ? h('span', { class: 'empty' }, ['none'])
        : h('code', {}, [
            s.snapshot_preview + (s.snapshot_truncated ? ` … (${s.snapshot_bytes} bytes)` : ''),
          ]);
    body.append(
      h('tr', { 'data-subject': s.subject }, [
        td(s.subject, 'mono'),
        h('td', {}, [snapshot]),
        td(s.seq === null ? '' : String(s.seq), 'num'),
        td(s.epoch ?? '', 'mono'),
        td(String(s.subscribers), 'num'),
        h('td', { class: 'actions' }, [tail]),
      ]),
    );
  }
  subjectsCursor = page.next_cursor;
  el('subjects-more').hidden = !subjectsCursor;
}

// ---- live tail and publish, through the SDK --------------------------------------

/** @type {any} */
let client = null;
/** @type {Map<string, { subscription: { unsubscribe: () => void }, status: HTMLElement }>} */
const tails = new Map();

/**
 * Shows that a tail's subscription was refused or ended by the gateway.
 * @param {HTMLElement} status
 * @param {string} code
 * @param {string} message
 */
function tailEnded(status, code, message) {
  status.textContent = code;
  status.className = 'pill bad';
  status.title = message;
}

/** The SDK's client, created on first use, with a token this console issues itself when the gateway wants one. */
async function sdkClient() {
  if (client) return client;
  const ws = websocketUrl();
  if (!ws) throw new Error('the gateway is not accepting clients yet');
  const origin = location.origin;
  if (info.allowed_origins.length && !info.allowed_origins.includes(origin)) {
    notify(
      `websocket.allowed_origins does not list ${origin}: the gateway will refuse this console's connection`,
      true,
    );
  }
  const sdkUrl = new URL('/sdk/sluice.js', ws.replace(/^ws/, 'http')).toString();
  const { Client } = await import(sdkUrl);
  /** @type {any} */
  const options = { servers: [ws] };
  if (info.auth_mode === 'jwt') {
    if (!info.can_issue_tokens)
      throw new Error('client auth is on and [auth] has no HS key for this console to sign its own token');
    options.token = async () =>
      (await api('POST', '/api/v1/tokens', { user: 'sluice-portal-console', all: ['/>'], ttl_s: 3600 }))
        .token;
  }
  client = new Client(options);
  client.on('state', (/** @type {string} */ state) => {
    const pill = el('tail-conn');
    pill.textContent = state;
    pill.className = `pill ${state === 'connected' ? 'good' : state === 'closed' ? 'bad' : 'warn'}`;
  });
  client.on('error', (/** @type {any} */ err) => {
    // An error naming a subject with no request behind it ends that subscription
    // (e.g. `not_exposed` when the topic is stopped).
    const tail = err.subject === undefined ? undefined : tails.get(err.subject);
    if (tail) {
      tail.subscription.unsubscribe();
      tails.delete(err.subject);
      tailEnded(tail.status, err.code, err.message);
    } else {
      notify(`gateway: ${err.code ?? ''} ${err.message}`, true);
    }
  });
  return client;
}

/** @param {unknown} data */
function showData(data) {
  if (data === null) return '(deleted)';
  if (typeof data === 'string') return data;
  if (data instanceof Uint8Array)
    return `${data.length} bytes: ${Array.from(data.slice(0, 32), (b) => b.toString(16).padStart(2, '0')).join(' ')}`;
  return JSON.stringify(data);
}

/** @param {string} subject */
async function startTail(subject) {
  if (tails.has(subject)) return;
  const c = await sdkClient();
  const item = h('li', { 'data-subject': subject }, []);
  const status = h('span', { class: 'pill' }, ['subscribing']);
  const stop = h('button', { class: 'secondary', type: 'button' }, ['Stop']);
  item.append(h('code', { class: 'grow' }, [subject]), status, stop);
  el('tails').append(item);
  const subscription = c.subscribe(subject, {
    onMessage: (/** @type {any} */ m) => {
      const row = h('tr', { class: 'fresh' }, [
        td(new Date().toLocaleTimeString()),
        td(m.subject, 'mono'),
        td(m.type),
        td(String(m.seq), 'num'),
        td(showData(m.data)),
      ]);
      const body = tbody('tail-log');
      body.prepend(row);
      while (body.rows.length > TAIL_ROWS_MAX) body.deleteRow(-1);
    },
    onStatus: (/** @type {any} */ s) => {
      if (typeof s === 'string') {
        status.textContent = s;
        status.className = `pill ${s === 'resync' ? 'warn' : 'good'}`;
      } else {
        tailEnded(status, s.error, s.message);
        tails.delete(subject);
      }
    },
  });
  tails.set(subject, { subscription, status });
  stop.addEventListener('click', () => {
    subscription.unsubscribe();
    tails.delete(subject);
    item.remove();
  });
}

async function publish() {
  const subject = input('pub-subject').value.trim();
  const data = /** @type {HTMLTextAreaElement} */ (el('pub-data')).value;
  const result = el('pub-result');
  result.textContent = 'publishing…';
  try {
    const c = await sdkClient();
    const ack = await c.publish(subject, data);
    result.textContent = `acknowledged: seq ${ack.seq}, epoch ${ack.epoch}`;
  } catch (err) {
    const e = /** @type {any} */ (err);
    result.textContent = `refused: ${e.code ?? ''} ${e.message}`;
  }
}

// ---- broker -------------------------------------------------------------------------

async function refreshBroker() {
  const broker = await api('GET', '/api/v1/broker');
  /** @type {[string, string][]} */
  const facts = [
    ['kind', broker.kind],
    ['reachable', broker.reachable ? 'yes' : `no${broker.error ? `: ${broker.error}` : ''}`],
  ];
  for (const s of broker.bootstrap_servers ?? []) {
    facts.push(['bootstrap server', `${s.server} ${s.reachable ? '(reachable)' : '(not reachable)'}`]);
  }
  if (broker.portal_topic)
    facts.push([
      'Portal topic',
      `${broker.portal_topic}${broker.portal_topic_readable ? '' : ' (not readable yet)'}`,
    ]);
  if (broker.state_file) facts.push(['Portal state file', broker.state_file]);
  el('broker-facts').replaceChildren(
    ...facts.flatMap(([k, v]) => [h('dt', {}, [k]), h('dd', { class: 'mono' }, [v])]),
  );
  /** @type {any[]} */
  const topics = broker.topics;
  const rows = topics.flatMap((t) =>
    t.partitions.map((/** @type {any} */ p, /** @type {number} */ i) =>
      h('tr', {}, [
        td(i === 0 ? t.name : '', 'mono'),
        td(String(p.partition), 'num'),
        td(p.lag_records === null || p.lag_records === undefined ? '–' : String(p.lag_records), 'num'),
        td(p.log_start === undefined ? '–' : String(p.log_start), 'num'),
        td(p.log_end === undefined || p.log_end === null ? '–' : String(p.log_end), 'num'),
      ]),
    ),
  );
  tbody('broker-table').replaceChildren(
    ...(rows.length ? rows : [h('tr', {}, [h('td', { class: 'empty', colspan: '5' }, ['no partitions'])])]),
  );
}

// ---- tokens --------------------------------------------------------------------------

/** @param {string} id */
const lines = (id) =>
  /** @type {HTMLTextAreaElement} */ (el(id)).value
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

async function issueToken() {
  const answer = await api('POST', '/api/v1/tokens', {
    user: input('token-user').value.trim(),
    ttl_s: Number(input('token-ttl').value),
    subscribe: lines('token-sub'),
    publish: lines('token-pub'),
    all: lines('token-all'),
  });
  const output = /** @type {HTMLTextAreaElement} */ (el('token-output'));
  output.value = answer.token;
  output.hidden = false;
  output.select();
  el('token-meta').textContent =
    `key ${answer.kid}, jti ${answer.jti}, expires ${new Date(answer.expires_at_s * 1000).toLocaleString()}`;
}

// ---- wiring ----------------------------------------------------------------------------

/**
 * @param {string} id
 * @param {() => Promise<unknown>} action
 */
function onSubmit(id, action) {
  el(id).addEventListener('submit', (event) => {
    event.preventDefault();
    action().catch(report);
  });
}

onSubmit('login-form', async () => {
  sessionStorage.setItem(TOKEN_KEY, input('admin-token').value.trim());
  input('admin-token').value = '';
  await loadInfo();
  el('notice').hidden = true;
  showTab();
});
onSubmit('expose-form', expose);
onSubmit('pattern-form', addPattern);
onSubmit('subjects-form', async () => {
  subjectsCursor = null;
  tbody('subjects-table').replaceChildren();
  await loadSubjects();
});
el('subjects-more').addEventListener('click', () => loadSubjects().catch(report));
onSubmit('tail-form', () => startTail(input('tail-subject').value.trim()));
onSubmit('pub-form', publish);
onSubmit('token-form', issueToken);
window.addEventListener('hashchange', showTab);

setInterval(() => {
  if (document.visibilityState === 'visible' && currentTab() !== 'topics') refresh().catch(() => {});
}, REFRESH_MS);

loadInfo()
  .then(showTab)
  .catch((err) => {
    if (!(err instanceof ApiError && err.status === 401)) report(err);
  });
