/* The Sluice dashboard: reads /api/stats once, then follows its SSE stream (a snapshot a second). */
/* global uPlot, document, window, location, URL, EventSource, fetch, getComputedStyle, setInterval, setTimeout, clearTimeout */
'use strict';

(function () {
  const PRIORITIES = ['interactive', 'default', 'batch'];
  const STALE_MS = 5000;
  const $ = (root, field) => root.querySelector(`[data-field="${field}"]`);

  // ---- formatting: every number carries its unit where it is shown ----
  function num(n) {
    if (n === null || n === undefined || !Number.isFinite(n)) return '–';
    const a = Math.abs(n);
    if (a >= 1e9) return `${(n / 1e9).toFixed(a >= 1e10 ? 0 : 1)}B`;
    if (a >= 1e6) return `${(n / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
    if (a >= 1e4) return `${(n / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
    return Math.round(n).toLocaleString('en-US');
  }
  function ms(n) {
    if (!Number.isFinite(n)) return '–';
    if (n < 1) return '0 ms';
    if (n < 1000) return `${Math.round(n)} ms`;
    if (n < 60_000) return `${(n / 1000).toFixed(1)} s`;
    return `${Math.floor(n / 60_000)} min ${Math.round((n % 60_000) / 1000)} s`;
  }
  function clock(at) {
    return new Date(at).toLocaleTimeString('en-GB', { hour12: false });
  }
  function pct(used, limit) {
    return limit > 0 ? Math.round((100 * used) / limit) : 0;
  }
  function plural(n, one, many) {
    return `${num(n)} ${n === 1 ? one : many}`;
  }
  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  /** `#rrggbb` with an opacity, for chart fills (a canvas takes no CSS color functions). */
  function alpha(hex, a) {
    const m = /^#([0-9a-f]{6})$/i.exec(hex);
    if (!m) return hex;
    const v = parseInt(m[1], 16);
    return `rgba(${v >> 16}, ${(v >> 8) & 255}, ${v & 255}, ${a})`;
  }
  function setBar(el, used, limit) {
    if (!el) return;
    const p = limit > 0 ? Math.min(100, (100 * used) / limit) : 0;
    el.style.width = `${p}%`;
    el.classList.toggle('high', p >= 80 && p < 98);
    el.classList.toggle('full', p >= 98);
  }
  function setValue(el, value, text) {
    el.textContent = text ?? num(value);
    el.dataset.value = String(value);
  }

  // ---- a lane's mode, as one badge ----
  function badge(mode, now) {
    switch (mode.kind) {
      case 'cooling':
        return `COOLING until ${clock(mode.until)} (${ms(Math.max(0, mode.until - now))})`;
      case 'probing':
        return `PROBING${mode.reason ? `: ${mode.reason}` : ''}`;
      case 'tripped':
        return 'TRIPPED: quota';
      default:
        return 'OPEN';
    }
  }

  // ---- charts ----
  function chartOptions(kind, width) {
    const grid = css('--grid');
    const muted = css('--muted');
    const axis = {
      stroke: muted,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1, size: 4 },
      font: '11px system-ui, sans-serif',
    };
    const series = [{}];
    if (kind === 'queue') {
      for (const p of PRIORITIES)
        series.push({ label: p, stroke: css(`--p-${p}`), width: 1.5, points: { show: false } });
    } else {
      const color = css(kind === 'rpm' ? '--req' : '--tok');
      series.push({
        label: kind === 'rpm' ? 'req/min' : 'tokens/min',
        stroke: color,
        width: 2,
        fill: alpha(color, 0.14),
        points: { show: false },
      });
      series.push({
        label: 'limit',
        stroke: css('--limit'),
        width: 1.5,
        dash: [6, 4],
        points: { show: false },
      });
    }
    return {
      width,
      height: 170,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: {
        x: { time: true },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.12 : kind === 'queue' ? 4 : 10] },
      },
      axes: [
        { ...axis, space: 70, values: (_u, ticks) => ticks.map((t) => clock(t * 1000).slice(0, 5)) },
        { ...axis, size: 46, values: (_u, ticks) => ticks.map((t) => num(t)) },
      ],
      series,
    };
  }

  function chartData(kind, lane, xs) {
    if (kind === 'queue') return [xs, ...PRIORITIES.map((p) => lane.series.queued[p])];
    if (kind === 'rpm') return [xs, lane.series.requestsPerMinute, lane.series.rpmLimit];
    return [xs, lane.series.tokensPerMinute, lane.series.tpmLimit];
  }

  // ---- lanes ----
  const cards = new Map();
  const lanesEl = document.getElementById('lanes');
  const template = document.getElementById('lane-template');

  function laneCard(lane) {
    let card = cards.get(lane.id);
    if (card) return card;
    const el = template.content.firstElementChild.cloneNode(true);
    lanesEl.appendChild(el);
    card = { el, charts: {} };
    for (const kind of ['rpm', 'tpm', 'queue'])
      card.charts[kind] = { box: el.querySelector(`[data-chart="${kind}"]`) };
    cards.set(lane.id, card);
    return card;
  }

  function drawCharts(card, lane, xs) {
    for (const kind of Object.keys(card.charts)) {
      const c = card.charts[kind];
      const data = chartData(kind, lane, xs);
      const width = Math.max(200, Math.floor(c.box.clientWidth));
      if (!c.plot) c.plot = new uPlot(chartOptions(kind, width), data, c.box);
      else {
        if (Math.abs(c.plot.width - width) > 2) c.plot.setSize({ width, height: 170 });
        c.plot.setData(data);
      }
    }
  }

  function rebuildCharts() {
    for (const card of cards.values()) {
      for (const c of Object.values(card.charts)) {
        c.plot?.destroy();
        c.plot = undefined;
      }
    }
    if (last) render(last);
  }

  function where(lane) {
    let host = lane.upstream;
    try {
      host = new URL(lane.upstream).host;
    } catch {
      // keep it as it is
    }
    return `${host} · key ${lane.key === 'none' ? 'none' : `${lane.key.slice(0, 8)}…`}`;
  }

  function renderLane(lane, snap, xs) {
    const card = laneCard(lane);
    const el = card.el;
    el.dataset.mode = lane.mode.kind;
    el.dataset.lane = lane.id;
    $(el, 'model').textContent = lane.model;
    $(el, 'where').textContent = where(lane);
    const b = $(el, 'badge');
    b.dataset.kind = lane.mode.kind;
    b.textContent = badge(lane.mode, snap.at);
    const detail = $(el, 'mode-detail');
    if (lane.mode.kind === 'tripped') {
      detail.hidden = false;
      detail.textContent = `${lane.mode.reason} — requests on this lane fail fast; one probe goes through at ${clock(lane.mode.probeAt)}. Fix billing or the quota; the lane reopens on the first success.`;
    } else detail.hidden = true;

    const rpm = lane.limits.rpm;
    const tpm = lane.limits.tpm;
    setValue($(el, 'rpm'), lane.requestsPerMinute);
    $(el, 'rpm-sub').textContent =
      rpm !== undefined
        ? `of ${num(rpm)} req/min limit · ${pct(lane.requestsPerMinute, rpm)}%`
        : 'limit not known yet (learned from the headers)';
    setBar($(el, 'rpm-bar'), lane.requestsPerMinute, rpm ?? 0);
    setValue($(el, 'tpm'), lane.tokensPerMinute);
    $(el, 'tpm-sub').textContent =
      tpm !== undefined
        ? `of ${num(tpm)} tokens/min limit · ${pct(lane.tokensPerMinute, tpm)}%`
        : 'limit not known yet (learned from the headers)';
    setBar($(el, 'tpm-bar'), lane.tokensPerMinute, tpm ?? 0);

    setValue($(el, 'queued'), lane.queued);
    $(el, 'inflight').textContent = `${plural(lane.inFlight, 'request', 'requests')} in flight`;
    setValue($(el, 'r429'), lane.rateLimited.last15m);
    $(el, 'r429')
      .closest('.num')
      .classList.toggle('warn', lane.rateLimited.last15m > 0);
    $(el, 'r429-sub').textContent =
      `${num(lane.rateLimited.lastMinute)} last min · retries ${num(lane.retries.last15m)} (15 min)`;
    setValue($(el, 'errors'), lane.errors.last15m);
    $(el, 'errors')
      .closest('.num')
      .classList.toggle('bad', lane.errors.last15m > 0);
    $(el, 'errors-sub').textContent =
      `${num(lane.errors.lastMinute)} last min · ${num(lane.errors.total)} since start`;

    const rows = PRIORITIES.map((p) => {
      const q = lane.queue[p];
      const cell = (v, text) => `<td class="n${v === 0 ? ' zero' : ''}">${text}</td>`;
      return `<tr><td><span class="pill p-${p}"></span>${p}</td>${cell(q.depth, `${num(q.depth)}`)}${cell(q.sentLastMinute, num(q.sentLastMinute))}${cell(q.waitAvgMs, q.sentLastMinute ? ms(q.waitAvgMs) : '–')}${cell(q.waitMaxMs, q.sentLastMinute ? ms(q.waitMaxMs) : '–')}</tr>`;
    });
    $(el, 'queue').innerHTML = rows.join('');

    const facts = [];
    const day = (dim) => lane.buckets.find((x) => x.dimension === dim && x.windowMs === 86_400_000);
    const rpd = day('requests');
    const tpd = day('tokens');
    if (rpd) facts.push(['Requests today', `${num(rpd.level)} of ${num(rpd.limit)} req/day`]);
    if (tpd) facts.push(['Tokens today', `${num(tpd.level)} of ${num(tpd.limit)} tokens/day`]);
    for (const bucket of lane.buckets.filter((x) => x.windowMs === 60_000)) {
      const unit = bucket.dimension === 'requests' ? 'requests' : 'tokens';
      facts.push([
        `Burst (${bucket.dimension})`,
        `${num(bucket.level)} of ${num(bucket.capacity)} ${unit} in use`,
      ]);
    }
    facts.push(['In flight', plural(lane.inFlight, 'request', 'requests')]);
    facts.push(['Retries (15 min)', plural(lane.retries.last15m, 'retry', 'retries')]);
    $(el, 'facts').innerHTML = facts.map(([k, v]) => `<dt>${html(k)}</dt><dd>${html(v)}</dd>`).join('');
    drawCharts(card, lane, xs);
  }

  function html(text) {
    return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  // ---- the page ----
  const kpi = (id) => document.querySelector(`[data-testid="${id}"]`);

  function renderTotals(snap) {
    const t = snap.totals;
    const lanes = snap.lanes;
    const sumLimit = (k) =>
      lanes.every((l) => l.limits[k] !== undefined) && lanes.length > 0
        ? lanes.reduce((s, l) => s + l.limits[k], 0)
        : undefined;
    const rate = (el, used, limit, unit, key) => {
      setValue($(el, 'value'), used);
      if (limit !== undefined) {
        const busiest = lanes.reduce(
          (m, l) => Math.max(m, pct(key(l), l.limits[unit === 'req/min' ? 'rpm' : 'tpm'] ?? 0)),
          0,
        );
        $(el, 'sub').textContent =
          lanes.length === 1
            ? `of ${num(limit)} ${unit} limit · ${pct(used, limit)}%`
            : `${lanes.length} lanes · busiest at ${busiest}% of its limit`;
      } else $(el, 'sub').textContent = lanes.length ? 'limit not known yet' : 'no lanes yet';
      setBar($(el, 'bar'), used, limit ?? 0);
    };
    rate(kpi('kpi-rpm'), t.requestsPerMinute, sumLimit('rpm'), 'req/min', (l) => l.requestsPerMinute);
    rate(kpi('kpi-tpm'), t.tokensPerMinute, sumLimit('tpm'), 'tokens/min', (l) => l.tokensPerMinute);

    const q = kpi('kpi-queue');
    setValue($(q, 'value'), t.queued);
    const waits = lanes.flatMap((l) => PRIORITIES.map((p) => l.queue[p].waitMaxMs));
    const longest = waits.length ? Math.max(...waits) : 0;
    $(q, 'sub').textContent =
      `${plural(t.inFlight, 'request', 'requests')} in flight · longest wait ${ms(longest)} (last min)`;

    const e = kpi('kpi-errors');
    setValue($(e, 'value'), t.errors5m);
    e.classList.toggle('bad', t.errors5m > 0);
    $(e, 'sub').textContent =
      `${plural(t.errors, 'error', 'errors')} of ${plural(t.requests, 'request', 'requests')} since start`;

    const r = kpi('kpi-429');
    setValue($(r, 'value'), t.rateLimited15m);
    r.classList.toggle('warn', t.rateLimited15m > 0);
    $(r, 'sub').textContent =
      `retries ${num(t.retries15m)} (15 min) · ${num(t.answeredPerMinute)} answers/min`;
  }

  function renderAlerts(snap) {
    const alerts = document.getElementById('alerts');
    const tripped = snap.lanes.filter((l) => l.mode.kind === 'tripped');
    const cooling = snap.lanes.filter((l) => l.mode.kind === 'cooling');
    const parts = [];
    for (const l of tripped)
      parts.push(
        `<p class="alert tripped">TRIPPED: quota on ${html(l.model)} (${html(where(l))}) — ${html(l.mode.reason)}<small>requests fail fast; next probe ${clock(l.mode.probeAt)}</small></p>`,
      );
    if (cooling.length)
      parts.push(
        `<p class="alert cooling">${cooling.length === 1 ? `${html(cooling[0].model)} is cooling down` : `${cooling.length} lanes are cooling down`} after a 429<small>requests wait in the queue, nothing is lost</small></p>`,
      );
    alerts.innerHTML = parts.join('');
  }

  function renderApps(snap) {
    const body = document.querySelector('#apps tbody');
    const empty = document.getElementById('apps-empty');
    const table = document.getElementById('apps');
    if (snap.apps.length === 0) {
      table.hidden = true;
      empty.hidden = false;
      empty.textContent = snap.gateway.virtualKeys
        ? 'No app has sent a request yet.'
        : "No virtual keys: each client's own API key is its own lane. To see usage per app, give each app a key in the --config file (docs/serve.md).";
      return;
    }
    table.hidden = false;
    empty.hidden = true;
    body.innerHTML = snap.apps
      .map((a) => {
        const n = (v, text = num(v), bad = false) =>
          `<td class="n${v === 0 ? ' zero' : ''}${bad && v > 0 ? ' bad' : ''}">${text}</td>`;
        const tokens =
          a.tokens === null
            ? '<td class="n zero" title="this gateway does not report tokens per request yet">–</td>'
            : n(a.tokens, `${num(a.tokens)} tokens`);
        return `<tr><td>${html(a.name)}</td><td>${html(a.priority ?? '–')}</td>${n(a.requests, `${num(a.requests)} req`)}${n(a.requestsPerMinute, `${num(a.requestsPerMinute)} req/min`)}${tokens}${n(a.errors, num(a.errors), true)}${n(a.errors15m, num(a.errors15m), true)}</tr>`;
      })
      .join('');
  }

  function renderEmpty(snap) {
    const empty = document.getElementById('empty');
    const quiet = snap.lanes.length === 0 && snap.totals.requests === 0;
    empty.hidden = !quiet;
    if (!quiet) return;
    const base = `${location.origin}/v1`;
    $(empty, 'base').textContent = base;
    $(empty, 'example').textContent = [
      `export OPENAI_BASE_URL=${base}`,
      'curl $OPENAI_BASE_URL/chat/completions -H "Authorization: Bearer $OPENAI_API_KEY" \\',
      `  -H 'content-type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'`,
    ].join('\n');
  }

  let last;
  function render(snap) {
    last = snap;
    const xs = Array.from(
      { length: snap.time.points },
      (_, i) => (snap.time.startMs + i * snap.time.stepMs) / 1000,
    );
    document.getElementById('meta').textContent =
      `upstream ${snap.gateway.upstream} · ${plural(snap.lanes.length, 'lane', 'lanes')} · up since ${clock(snap.gateway.startedAt)}`;
    document.getElementById('version').textContent = `sluice ${snap.gateway.version}`;
    renderTotals(snap);
    renderAlerts(snap);
    renderEmpty(snap);
    const seen = new Set();
    for (const lane of snap.lanes) {
      seen.add(lane.id);
      renderLane(lane, snap, xs);
    }
    for (const [id, card] of cards) {
      if (seen.has(id)) continue;
      for (const c of Object.values(card.charts)) c.plot?.destroy();
      card.el.remove();
      cards.delete(id);
    }
    renderApps(snap);
    lastAt = Date.now();
    setConn('live', `live · ${clock(snap.at)}`);
  }

  // ---- connection ----
  let lastAt = 0;
  const conn = document.getElementById('conn');
  function setConn(state, text) {
    conn.dataset.state = state;
    document.getElementById('conn-text').textContent = text;
  }
  setInterval(() => {
    if (lastAt && Date.now() - lastAt > STALE_MS && conn.dataset.state === 'live')
      setConn('stale', `no update for ${ms(Date.now() - lastAt)}`);
  }, 1000);

  let source;
  function connect() {
    source?.close();
    source = new EventSource('/api/stats?stream=1');
    source.addEventListener('snapshot', (e) => render(JSON.parse(e.data)));
    source.onerror = () => {
      setConn('down', 'gateway unreachable — retrying…');
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    };
  }

  fetch('/api/stats', { headers: { accept: 'application/json' } })
    .then((res) => {
      if (res.status === 401) {
        setConn('down', 'admin token needed — open /dashboard?token=…');
        return undefined;
      }
      return res.json();
    })
    .then((snap) => {
      if (snap) render(snap);
      connect();
    })
    .catch(() => connect());

  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => last && render(last), 150);
  });
  window.matchMedia('(prefers-color-scheme: light)').addEventListener('change', rebuildCharts);
})();
