/* The Sluice dashboard: reads /api/stats once, then follows its SSE stream (a snapshot a second). */
/* global uPlot, document, window, location, URL, EventSource, fetch, getComputedStyle, setInterval, setTimeout, clearTimeout, devicePixelRatio */
'use strict';

(function () {
  const PRIORITIES = ['interactive', 'default', 'batch'];
  const SEVERITY = { tripped: 0, cooling: 1, probing: 2, open: 3 };
  const STALE_MS = 5000;
  const CHART_HEIGHT = 170;
  /** Whole-number steps only: requests, tokens and queue depths come in units. */
  const INCRS = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7,
    5e7,
  ];
  const $ = (root, field) => root.querySelector(`[data-field="${field}"]`);

  // ---- formatting: every number is shown with its unit ----
  function num(n) {
    if (n === null || n === undefined || !Number.isFinite(n)) return '–';
    const a = Math.abs(n);
    if (a >= 1e9) return `${(n / 1e9).toFixed(a >= 1e10 ? 0 : 1)}B`;
    if (a >= 1e6) return `${(n / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
    if (a >= 1e4) return `${(n / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
    if (a < 10 && !Number.isInteger(n)) return n.toFixed(1);
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
  function html(text) {
    return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
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
    const p = limit > 0 ? Math.min(100, (100 * used) / limit) : 0;
    el.style.width = `${p}%`;
    el.classList.toggle('high', p >= 80 && p < 98);
    el.classList.toggle('full', p >= 98);
  }
  function setValue(el, value) {
    el.textContent = num(value);
    el.dataset.value = String(value);
  }

  // ---- lanes: names and modes ----
  function where(lane) {
    let host = lane.upstream;
    try {
      host = new URL(lane.upstream).host;
    } catch {
      // not a URL: show it as it is
    }
    return `${host} · key ${lane.key === 'none' ? 'none' : `${lane.key.slice(0, 8)}…`}`;
  }
  function laneName(lane) {
    return lane.apps.length ? `${lane.model} · ${lane.apps.join(', ')}` : lane.model;
  }
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
  /** Writes "limit N unit" just above the dashed limit line, at the right. */
  function limitLabel(unit) {
    const draw = (u) => {
      const ys = u.data[2];
      let v = null;
      for (let i = ys.length - 1; i >= 0 && v === null; i--) v = ys[i] ?? null;
      if (v === null) return;
      const px = devicePixelRatio;
      const ctx = u.ctx;
      ctx.save();
      ctx.fillStyle = css('--limit');
      ctx.font = `${11 * px}px system-ui, sans-serif`;
      ctx.textAlign = 'right';
      ctx.textBaseline = 'bottom';
      ctx.fillText(
        `limit ${num(v)} ${unit}`,
        u.bbox.left + u.bbox.width - 4 * px,
        u.valToPos(v, 'y', true) - 3 * px,
      );
      ctx.restore();
    };
    return { hooks: { draw } };
  }

  function timeTicks(u, ticks) {
    const span = u.scales.x.max - u.scales.x.min;
    return ticks.map((t) => (span < 600 ? clock(t * 1000) : clock(t * 1000).slice(0, 5)));
  }

  function chartOptions(kind, width) {
    const grid = css('--grid');
    const axis = {
      stroke: css('--muted'),
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1, size: 4 },
      font: '11px system-ui, sans-serif',
    };
    const series = [{}];
    if (kind === 'queue') {
      for (const p of PRIORITIES)
        series.push({ label: p, stroke: css(`--p-${p}`), width: 2, points: { show: false } });
    } else {
      const color = css(kind === 'rpm' ? '--req' : '--tok');
      series.push({ stroke: color, width: 2, fill: alpha(color, 0.14), points: { show: false } });
      series.push({ stroke: css('--limit'), width: 1.5, dash: [6, 4], points: { show: false } });
    }
    return {
      width,
      height: CHART_HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(4, max * 1.2)] } },
      axes: [
        { ...axis, space: 90, values: timeTicks },
        { ...axis, size: 48, incrs: INCRS, values: (_u, ticks) => ticks.map(num) },
      ],
      series,
      plugins: kind === 'queue' ? [] : [limitLabel(kind === 'rpm' ? 'req/min' : 'tokens/min')],
    };
  }

  function chartData(kind, lane, xs) {
    if (kind === 'queue') return [xs, ...PRIORITIES.map((p) => lane.series.queued[p])];
    if (kind === 'rpm') return [xs, lane.series.requestsPerMinute, lane.series.rpmLimit];
    return [xs, lane.series.tokensPerMinute, lane.series.tpmLimit];
  }

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
      card.charts[kind] = { box: el.querySelector(`[data-chart="${kind}"]`), plot: undefined };
    cards.set(lane.id, card);
    return card;
  }

  function drawCharts(card, lane, xs) {
    for (const [kind, c] of Object.entries(card.charts)) {
      const data = chartData(kind, lane, xs);
      const width = Math.max(200, Math.floor(c.box.clientWidth));
      if (!c.plot) c.plot = new uPlot(chartOptions(kind, width), data, c.box);
      else {
        if (Math.abs(c.plot.width - width) > 2) c.plot.setSize({ width, height: CHART_HEIGHT });
        c.plot.setData(data);
      }
    }
  }

  function dropCharts(card) {
    for (const c of Object.values(card.charts)) {
      c.plot?.destroy();
      c.plot = undefined;
    }
  }

  function renderLane(lane, snap, xs) {
    const card = laneCard(lane);
    const el = card.el;
    el.dataset.mode = lane.mode.kind;
    el.dataset.lane = lane.id;
    $(el, 'model').textContent = laneName(lane);
    $(el, 'where').textContent = where(lane);
    const b = $(el, 'badge');
    b.dataset.kind = lane.mode.kind;
    b.textContent = badge(lane.mode, snap.at);

    const detail = $(el, 'mode-detail');
    detail.hidden = lane.mode.kind !== 'tripped';
    if (lane.mode.kind === 'tripped') {
      const wait = Math.max(0, lane.mode.probeAt - snap.at);
      detail.innerHTML = `<b>${html(lane.mode.reason)}</b><br>Next probe at ${clock(lane.mode.probeAt)} (in ${ms(wait)}). Until one succeeds, requests on this lane fail at once with <code>quota_exhausted</code>.`;
    }

    const rate = (field, used, limit, unit) => {
      setValue($(el, field), used);
      $(el, `${field}-sub`).textContent =
        limit !== undefined
          ? `of ${num(limit)} ${unit} limit · ${pct(used, limit)}%`
          : 'limit not known yet (learned from the headers)';
      setBar($(el, `${field}-bar`), used, limit ?? 0);
    };
    rate('rpm', lane.requestsPerMinute, lane.limits.rpm, 'req/min');
    rate('tpm', lane.tokensPerMinute, lane.limits.tpm, 'tokens/min');

    setValue($(el, 'queued'), lane.queued);
    $(el, 'inflight').textContent = `${num(lane.inFlight)} in flight`;
    setValue($(el, 'r429'), lane.rateLimited.last15m);
    $(el, 'r429')
      .closest('.num')
      .classList.toggle('warn', lane.rateLimited.last15m > 0);
    $(el, 'r429-sub').textContent =
      `${num(lane.rateLimited.lastMinute)} last min · ${plural(lane.retries.last15m, 'retry', 'retries')}`;
    setValue($(el, 'errors'), lane.errors.last15m);
    $(el, 'errors')
      .closest('.num')
      .classList.toggle('bad', lane.errors.last15m > 0);
    $(el, 'errors-sub').textContent =
      `${num(lane.errors.lastMinute)} last min · ${num(lane.errors.total)} since start`;

    $(el, 'queue').innerHTML = PRIORITIES.map((p) => {
      const q = lane.queue[p];
      const cell = (v, text) => `<td class="n${v === 0 ? ' zero' : ''}">${text}</td>`;
      const waited = (v) => (q.sentLastMinute ? ms(v) : '–');
      return `<tr><td><span class="pill p-${p}"></span>${p}</td>${cell(q.depth, num(q.depth))}${cell(q.sentLastMinute, num(q.sentLastMinute))}${cell(q.waitAvgMs, waited(q.waitAvgMs))}${cell(q.waitMaxMs, waited(q.waitMaxMs))}</tr>`;
    }).join('');

    const facts = [];
    const day = (dim) => lane.buckets.find((x) => x.dimension === dim && x.windowMs === 86_400_000);
    const rpd = day('requests');
    const tpd = day('tokens');
    if (rpd) facts.push(['Requests today', `${num(rpd.level)} of ${num(rpd.limit)} req/day`]);
    if (tpd) facts.push(['Tokens today', `${num(tpd.level)} of ${num(tpd.limit)} tokens/day`]);
    for (const bucket of lane.buckets.filter((x) => x.windowMs === 60_000)) {
      const unit = bucket.dimension === 'requests' ? 'requests' : 'tokens';
      const left = Math.max(0, bucket.capacity - bucket.level);
      facts.push([`Burst left (${unit})`, `${num(left)} of ${num(bucket.capacity)} ${unit}`]);
    }
    facts.push(['In flight', plural(lane.inFlight, 'request', 'requests')]);
    facts.push(['429s since start', plural(lane.rateLimited.total, '429 answer', '429 answers')]);
    facts.push(['Retries since start', plural(lane.retries.total, 'retry', 'retries')]);
    $(el, 'facts').innerHTML = facts.map(([k, v]) => `<dt>${html(k)}</dt><dd>${html(v)}</dd>`).join('');
    drawCharts(card, lane, xs);
  }

  // ---- the page ----
  const kpi = (id) => document.querySelector(`[data-testid="${id}"]`);

  function renderTotals(snap) {
    const t = snap.totals;
    const lanes = snap.lanes;
    const rate = (el, used, key, current, unit) => {
      setValue($(el, 'value'), used);
      const known = lanes.filter((l) => l.limits[key] !== undefined);
      const limit = known.length === lanes.length ? known.reduce((s, l) => s + l.limits[key], 0) : undefined;
      let sub = 'no lanes yet';
      if (lanes.length === 1)
        sub = limit ? `of ${num(limit)} ${unit} limit · ${pct(used, limit)}%` : 'limit not known yet';
      else if (lanes.length > 1) {
        const busiest = Math.max(0, ...known.map((l) => pct(current(l), l.limits[key])));
        sub = `${lanes.length} lanes · busiest at ${busiest}% of its limit`;
      }
      $(el, 'sub').textContent = sub;
      const worst = known.reduce((m, l) => Math.max(m, current(l) / l.limits[key]), 0);
      setBar($(el, 'bar'), worst, 1);
    };
    rate(kpi('kpi-rpm'), t.requestsPerMinute, 'rpm', (l) => l.requestsPerMinute, 'req/min');
    rate(kpi('kpi-tpm'), t.tokensPerMinute, 'tpm', (l) => l.tokensPerMinute, 'tokens/min');

    const q = kpi('kpi-queue');
    setValue($(q, 'value'), t.queued);
    const longest = Math.max(0, ...lanes.flatMap((l) => PRIORITIES.map((p) => l.queue[p].waitMaxMs)));
    $(q, 'sub').textContent = `${num(t.inFlight)} in flight · max wait ${ms(longest)}`;

    const e = kpi('kpi-errors');
    setValue($(e, 'value'), t.errors5m);
    e.classList.toggle('bad', t.errors5m > 0);
    $(e, 'sub').textContent = `${num(t.errors)} since start, of ${plural(t.requests, 'request', 'requests')}`;

    const r = kpi('kpi-429');
    setValue($(r, 'value'), t.rateLimited15m);
    r.classList.toggle('warn', t.rateLimited15m > 0);
    $(r, 'sub').textContent =
      `${plural(t.retries15m, 'retry', 'retries')} (15 min) · ${num(t.answeredPerMinute)} answered/min`;
  }

  function renderAlerts(snap) {
    const tripped = snap.lanes.filter((l) => l.mode.kind === 'tripped');
    const cooling = snap.lanes.filter((l) => l.mode.kind === 'cooling');
    const parts = tripped.map(
      (l) =>
        `<p class="alert tripped">TRIPPED: quota — ${html(laneName(l))} <span class="where">${html(where(l))}</span><small>requests on it fail at once until a probe succeeds · next probe ${clock(l.mode.probeAt)}</small></p>`,
    );
    if (cooling.length) {
      const what = cooling.length === 1 ? `${html(laneName(cooling[0]))} is` : `${cooling.length} lanes are`;
      parts.push(
        `<p class="alert cooling">${what} cooling down after a 429<small>requests wait in the queue; nothing is lost</small></p>`,
      );
    }
    document.getElementById('alerts').innerHTML = parts.join('');
  }

  function renderApps(snap) {
    const table = document.getElementById('apps');
    const empty = document.getElementById('apps-empty');
    table.hidden = snap.apps.length === 0;
    empty.hidden = snap.apps.length > 0;
    if (snap.apps.length === 0) {
      empty.textContent = snap.gateway.virtualKeys
        ? 'No app has sent a request yet.'
        : "No virtual keys: each client's own API key is its own lane. To see usage per app, give each app a key in the --config file (see docs/serve.md).";
      return;
    }
    const cell = (v, text, bad = false) =>
      `<td class="n${v === 0 ? ' zero' : ''}${bad && v > 0 ? ' bad' : ''}">${text}</td>`;
    table.querySelector('tbody').innerHTML = snap.apps
      .map((a) => {
        const tokens =
          a.tokens === null
            ? '<td class="n zero" title="this gateway does not report tokens per request">–</td>'
            : cell(a.tokens, `${num(a.tokens)} tokens`);
        return `<tr><td>${html(a.name)}</td><td>${html(a.priority ?? '–')}</td>${cell(a.requests, `${num(a.requests)} req`)}${cell(a.requestsPerMinute, `${num(a.requestsPerMinute)} req/min`)}${tokens}${cell(a.errors, num(a.errors), true)}${cell(a.errors15m, num(a.errors15m), true)}</tr>`;
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
  let lastAt = 0;
  function render(snap) {
    last = snap;
    const xs = Array.from(
      { length: snap.time.points },
      (_, i) => (snap.time.startMs + i * snap.time.stepMs) / 1000,
    );
    const cache =
      snap.cache && snap.cache.hits + snap.cache.misses > 0
        ? ` · cache ${Math.round(snap.cache.hitRate * 100)}% hits, ${num(snap.cache.tokensSaved)} tokens saved`
        : '';
    document.getElementById('meta').textContent =
      `upstream ${snap.gateway.upstream} · ${plural(snap.lanes.length, 'lane', 'lanes')} · up since ${clock(snap.gateway.startedAt)}${cache}`;
    document.getElementById('version').textContent = `sluice ${snap.gateway.version}`;
    renderTotals(snap);
    renderAlerts(snap);
    renderEmpty(snap);
    const ordered = [...snap.lanes].sort(
      (a, b) => SEVERITY[a.mode.kind] - SEVERITY[b.mode.kind] || (a.id < b.id ? -1 : 1),
    );
    for (const lane of ordered) renderLane(lane, snap, xs);
    // Keep the cards in that order (moving a node keeps its charts).
    ordered.forEach((lane, i) => {
      const el = cards.get(lane.id).el;
      if (lanesEl.children[i] !== el) lanesEl.insertBefore(el, lanesEl.children[i] ?? null);
    });
    const seen = new Set(ordered.map((l) => l.id));
    for (const [id, card] of cards) {
      if (seen.has(id)) continue;
      dropCharts(card);
      card.el.remove();
      cards.delete(id);
    }
    renderApps(snap);
    lastAt = Date.now();
    setConn('live', `live · ${clock(snap.at)}`);
  }

  // ---- connection ----
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
    .then(async (res) => {
      // Without the admin cookie the stream would be refused too: say what to do instead of retrying.
      if (res.status === 401) return setConn('down', 'admin token needed: open /dashboard?token=…');
      render(await res.json());
      connect();
    })
    .catch(() => connect());

  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => last && render(last), 150);
  });
  window.matchMedia('(prefers-color-scheme: light)').addEventListener('change', () => {
    for (const card of cards.values()) dropCharts(card);
    if (last) render(last);
  });
})();
