// SPDX-License-Identifier: Apache-2.0
// The Codex dashboard. Every node is built with createElement/textContent (a lint rule forbids innerHTML and
// friends), so a bot called `<img src=x onerror=alert(1)>` is shown as text. The access token lives in this closure
// only; the refresh token is an HttpOnly cookie the page never sees.
'use strict';

(() => {
  const STATUSES = ['created', 'deploying', 'running', 'stopping', 'stopped', 'failed', 'error'];
  const STARTABLE = ['created', 'stopped', 'failed', 'error'];
  const STOPPABLE = ['deploying', 'running'];
  const ROLES = ['worker', 'collector', 'analyzer', 'aggregator', 'orchestrator', 'custom'];
  const ID = /^[a-z0-9_-]{1,64}$/;
  const POLL_MS = 2000;
  const MAX_SAMPLES = 30;
  const MAX_INCIDENTS = 20;

  const $ = (id) => document.getElementById(id);
  let accessToken = null;
  let permissions = [];
  let bots = new Map();
  let incidents = [];
  let fleet = { ecps_nodes: [], sw4rm_agents: [] };
  let socket = null;
  let lastSeq = null;
  let backoffMs = 1000;
  let reconnectTimer = null;
  let pollTimer = null;
  const pending = new Set();

  /** A new element with text content and attributes (never HTML). */
  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }
  const statusClass = (status) => (STATUSES.includes(status) ? `status-${status}` : 'status-unknown');
  const can = (permission) => permissions.includes(permission);

  async function api(method, path, body, retry = true) {
    const headers = {};
    if (accessToken) headers.authorization = `Bearer ${accessToken}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 401 && retry && accessToken && (await refresh())) return api(method, path, body, false);
    const type = response.headers.get('content-type') || '';
    const data = type.includes('application/json') ? await response.json() : await response.text();
    if (!response.ok) throw new Error((data && data.detail) || `HTTP ${response.status}`);
    return data;
  }

  async function refresh() {
    try {
      const response = await fetch('/api/v1/auth/refresh', { method: 'POST', credentials: 'same-origin' });
      if (!response.ok) return false;
      accessToken = (await response.json()).access_token;
      return true;
    } catch {
      return false;
    }
  }

  // ---- rendering -------------------------------------------------------------------------------------------------

  function sparkline(values) {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', '0 0 90 22');
    const line = document.createElementNS(ns, 'polyline');
    const max = Math.max(1, ...values);
    const step = values.length > 1 ? 90 / (values.length - 1) : 0;
    line.setAttribute('points', values.map((v, i) => `${(i * step).toFixed(1)},${(21 - (v / max) * 20).toFixed(1)}`).join(' '));
    svg.appendChild(line);
    return svg;
  }

  function metricCell(value, unit, samples) {
    const td = el('td');
    td.appendChild(el('span', value === undefined || value === null ? '–' : `${Number(value).toFixed(1)}${unit} `));
    if (samples.length > 1) td.appendChild(sparkline(samples));
    return td;
  }

  function button(label, bot, action, enabled) {
    const b = el('button', label, { type: 'button', 'data-bot-id': bot.id, 'data-action': action });
    b.disabled = !enabled || pending.has(bot.id);
    b.addEventListener('click', () => botAction(bot.id, action));
    return b;
  }

  function renderBots() {
    const body = $('bots-body');
    const rows = [];
    for (const bot of bots.values()) {
      const tr = el('tr', null, { 'data-bot-id': bot.id });
      tr.appendChild(el('td', bot.id));
      tr.appendChild(el('td', bot.name));
      tr.appendChild(el('td', bot.role));
      const status = el('td');
      status.appendChild(el('span', bot.status, { class: `status ${statusClass(bot.status)}` }));
      tr.appendChild(status);
      const samples = bot.samples || [];
      tr.appendChild(metricCell(bot.cpu_load, '%', samples.map((s) => s.cpu)));
      tr.appendChild(metricCell(bot.memory_usage_mb, ' MB', samples.map((s) => s.mem)));
      const actions = el('td', null, { class: 'actions' });
      if (can('bot:start')) actions.appendChild(button('Start', bot, 'start', STARTABLE.includes(bot.status)));
      if (can('bot:stop')) actions.appendChild(button('Stop', bot, 'stop', STOPPABLE.includes(bot.status)));
      tr.appendChild(actions);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
    $('bots-empty').hidden = bots.size > 0;
    renderSummary();
  }

  function health() {
    const list = [...bots.values()];
    if (list.some((b) => b.status === 'failed' || b.status === 'error')) return 'critical';
    if (list.some((b) => b.status === 'deploying')) return 'degraded';
    return 'healthy';
  }

  function renderSummary() {
    const state = health();
    const badge = $('health');
    badge.textContent = state;
    badge.className = `badge health-${state}`;
    const count = (s) => [...bots.values()].filter((b) => s.includes(b.status)).length;
    $('summary').replaceChildren(
      el('span', `${bots.size} bots`),
      el('span', `${count(['running'])} running`),
      el('span', `${count(['deploying'])} deploying`),
      el('span', `${count(['failed', 'error'])} failed`),
      el('span', `${count(['created', 'stopped'])} stopped`),
    );
  }

  function renderIncidents() {
    $('incidents').replaceChildren(
      ...incidents
        .slice(-MAX_INCIDENTS)
        .reverse()
        .map((i) => el('li', `${(i.created_at || '').slice(11, 19)} ${i.bot_id || 'system'} ${i.kind}: ${i.message}`)),
    );
  }

  function renderFleet() {
    const row = (text, status) => {
      const li = el('li', `${text} `);
      li.appendChild(el('span', status, { class: `status ${statusClass(status)}` }));
      return li;
    };
    $('ecps-nodes').replaceChildren(...fleet.ecps_nodes.map((n) => row(`${n.node_id} (bot ${n.bot_id})`, n.status)));
    $('sw4rm-agents').replaceChildren(...fleet.sw4rm_agents.map((a) => row(`${a.agent_id} (bot ${a.bot_id})`, a.status)));
  }

  function setConnection(state) {
    const c = $('connection');
    c.textContent = state;
    c.className = `badge conn-${state}`;
  }

  // ---- data ------------------------------------------------------------------------------------------------------

  async function loadData() {
    const data = await api('GET', '/api/v1/dashboard/data');
    bots = new Map(data.bots.items.map((b) => [b.id, b]));
    incidents = data.incidents.slice().reverse().slice(-MAX_INCIDENTS);
    fleet = data.fleet;
    renderDeploymentTypes(data.deployment_types || ['local_process']);
    renderBots();
    renderIncidents();
    renderFleet();
  }

  /** The deployment types this server can run (a Kubernetes pod only when the server has a cluster). */
  function renderDeploymentTypes(types) {
    const select = $('create-deployment');
    const current = select.value;
    const labels = { local_process: 'Local process', sandbox: 'Sandbox', kubernetes_pod: 'Kubernetes pod' };
    const offered = types.filter((t) => labels[t]);
    if (offered.join() === [...select.options].map((o) => o.value).join()) return;
    select.replaceChildren(...offered.map((t) => el('option', labels[t], { value: t })));
    if (offered.includes(current)) select.value = current;
  }

  function applyEvent(message) {
    if (message.type === 'snapshot') {
      const next = new Map();
      for (const b of message.data.bots) next.set(b.id, { ...(bots.get(b.id) || {}), ...b });
      bots = next;
      return renderBots();
    }
    const d = message.data || {};
    if (message.type === 'bot.created' || message.type === 'bot.updated') {
      const old = bots.get(d.bot.id) || {};
      bots.set(d.bot.id, { ...old, id: d.bot.id, name: d.bot.name, role: d.bot.role, status: d.bot.status });
      renderBots();
      if (message.type === 'bot.created' || d.bot.deployment_config?.identity) void loadData().catch(() => {});
    } else if (message.type === 'bot.deleted') {
      bots.delete(d.bot_id);
      renderBots();
    } else if (message.type === 'bot.status') {
      const bot = bots.get(d.bot_id);
      if (bot) {
        bot.status = d.to;
        renderBots();
      }
    } else if (message.type === 'bot.metrics') {
      const bot = bots.get(d.bot_id);
      if (bot) {
        bot.cpu_load = d.cpu_load;
        bot.memory_usage_mb = d.memory_usage_mb;
        bot.samples = [...(bot.samples || []), { cpu: d.cpu_load, mem: d.memory_usage_mb }].slice(-MAX_SAMPLES);
        renderBots();
      }
    } else if (message.type === 'incident') {
      incidents = [...incidents, d.incident].slice(-MAX_INCIDENTS);
      renderIncidents();
    }
  }

  // ---- live updates: WebSocket, reconnect with backoff, polling meanwhile ------------------------------------------

  function startPolling() {
    if (pollTimer) return;
    pollTimer = setInterval(() => void loadData().catch(() => {}), POLL_MS);
  }
  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  function connect() {
    if (!accessToken) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws/updates?token=${encodeURIComponent(accessToken)}`);
    socket = ws;
    lastSeq = null;
    ws.addEventListener('open', () => {
      backoffMs = 1000;
      setConnection('live');
      stopPolling();
    });
    ws.addEventListener('message', (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (typeof message.seq === 'number') {
        const gap = lastSeq !== null && message.seq !== lastSeq + 1;
        lastSeq = message.seq;
        if (gap) void loadData().catch(() => {});
      }
      applyEvent(message);
    });
    ws.addEventListener('close', async (event) => {
      if (socket !== ws || !accessToken) return;
      socket = null;
      setConnection('polling');
      startPolling();
      if (event.code === 4401) await refresh();
      reconnectTimer = setTimeout(connect, backoffMs);
      backoffMs = Math.min(30_000, backoffMs * 2);
    });
  }

  // ---- actions ---------------------------------------------------------------------------------------------------

  async function botAction(id, action) {
    pending.add(id);
    $('action-error').textContent = '';
    renderBots();
    try {
      await api('POST', `/api/v1/bots/${encodeURIComponent(id)}/${action}`);
    } catch (error) {
      $('action-error').textContent = `${action} ${id}: ${error.message}`;
    } finally {
      pending.delete(id);
      renderBots();
    }
  }

  function createFormErrors(body) {
    if (!ID.test(body.id)) return 'Id: 1 to 64 characters among a-z, 0-9, _ and -';
    if (!body.name.trim()) return 'Name is required';
    if (!body.blueprint || body.blueprint.startsWith('/') || body.blueprint.split(/[\\/]/).includes('..')) return 'Blueprint: a relative path inside the bots directory, without ..';
    return null;
  }

  async function onCreate(event) {
    event.preventDefault();
    const body = {
      id: $('create-id').value.trim().toLowerCase(),
      name: $('create-name').value.trim(),
      role: $('create-role').value,
      blueprint: $('create-blueprint').value.trim(),
    };
    const interpreter = $('create-interpreter').value.trim();
    const deploymentType = $('create-deployment').value;
    if (interpreter || deploymentType) body.deployment_config = { ...(interpreter ? { interpreter } : {}), ...(deploymentType ? { deployment_type: deploymentType } : {}) };
    const problem = createFormErrors(body);
    $('create-error').textContent = problem || '';
    if (problem) return;
    const submit = event.target.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      await api('POST', '/api/v1/bots', body);
      event.target.reset();
    } catch (error) {
      $('create-error').textContent = error.message;
    } finally {
      submit.disabled = false;
    }
  }

  // ---- session ---------------------------------------------------------------------------------------------------

  async function enter() {
    const me = await api('GET', '/api/v1/auth/me');
    permissions = me.permissions;
    $('whoami').textContent = `${me.username} (${me.roles.join(', ')})`;
    $('login-section').hidden = true;
    $('app-section').hidden = false;
    $('logout').hidden = false;
    $('create-form').hidden = !can('bot:create');
    await loadData();
    connect();
  }

  async function onLogin(event) {
    event.preventDefault();
    $('login-error').textContent = '';
    try {
      const response = await fetch('/api/v1/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        credentials: 'same-origin',
        body: JSON.stringify({ username: $('login-username').value, password: $('login-password').value, use_cookie: true }),
      });
      const data = await response.json();
      if (!response.ok) throw new Error(data.detail || 'login failed');
      accessToken = data.access_token;
      $('login-password').value = '';
      await enter();
    } catch (error) {
      $('login-error').textContent = error.message;
    }
  }

  async function onLogout() {
    try {
      await api('POST', '/api/v1/auth/logout');
    } catch {
      // the session ends here whatever the server said
    }
    accessToken = null;
    permissions = [];
    // Nothing of this session stays on the page for the next user.
    bots = new Map();
    incidents = [];
    fleet = { ecps_nodes: [], sw4rm_agents: [] };
    renderBots();
    renderIncidents();
    renderFleet();
    clearTimeout(reconnectTimer);
    stopPolling();
    if (socket) socket.close(1000);
    socket = null;
    setConnection('offline');
    $('app-section').hidden = true;
    $('logout').hidden = true;
    $('login-section').hidden = false;
    $('whoami').textContent = '';
  }

  document.addEventListener('DOMContentLoaded', async () => {
    $('create-role').replaceChildren(...ROLES.map((r) => el('option', r, { value: r })));
    $('login-form').addEventListener('submit', onLogin);
    $('create-form').addEventListener('submit', onCreate);
    $('logout').addEventListener('click', onLogout);
    if (await refresh()) await enter().catch(() => {});
  });
})();
