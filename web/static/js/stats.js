// Statistics: the figures of GET /api/v1/stats for a time range, account
// and agent, with charts drawn here as SVG — sessions per hour, first
// response p50/p90 per hour, satisfaction.
import {h, fill, svg, duration} from './dom.js';
import {get, optional} from './api.js';
import {t} from './i18n.js';

export function statsView(root) {
  const range = h('select', {name: 'range', 'aria-label': t('stats.range')},
    [['24', t('stats.24h')], ['168', t('stats.7d')], ['720', t('stats.30d')]].map(([v, l]) => h('option', {value: v, text: l})));
  const account = h('select', {name: 'account', 'aria-label': t('board.account')}, h('option', {value: '', text: t('stats.allAccounts')}));
  const agent = h('select', {name: 'agent', 'aria-label': t('board.agent')}, h('option', {value: '', text: t('stats.allAgents')}));
  const out = h('div', {class: 'stats-body'});
  fill(root, h('div', {class: 'stats'},
    h('div', {class: 'toolbar'}, h('h1', {text: t('nav.stats')}), range, account, agent), out));
  optional('/accounts').then((d) => d && account.append(...d.accounts.map((a) => h('option', {value: a.appid, text: a.name || a.appid})))).catch(() => {});
  optional('/agents').then((d) => d && agent.append(...d.agents.map((a) => h('option', {value: a.id, text: a.name || a.id})))).catch(() => {});
  async function load() {
    const to = new Date();
    const from = new Date(to - Number(range.value) * 3600e3);
    const q = new URLSearchParams({from: from.toISOString(), to: to.toISOString()});
    if (account.value) q.set('account', account.value);
    if (agent.value) q.set('agent', agent.value);
    let data;
    try {
      data = await get('/stats?' + q);
    } catch (e) {
      fill(out, h('p', {class: 'muted', text: e.status === 404 ? t('stats.needsArchive') : e.message}));
      return;
    }
    render(out, data, from, to);
  }
  for (const el of [range, account, agent]) el.addEventListener('change', load);
  load();
  return {};
}

const secs = (v) => (v === null || v === undefined ? '—' : v < 60 ? `${v.toFixed(v < 10 ? 1 : 0)} s` : duration(v));

function render(out, data, from, to) {
  const s = data.stats || {};
  const hours = [];
  const start = new Date(from);
  start.setUTCMinutes(0, 0, 0);
  const by = new Map((data.hourly || []).map((x) => [new Date(x.at).getTime(), x]));
  for (let at = start.getTime(); at < to.getTime(); at += 3600e3) hours.push(by.get(at) || {at: new Date(at).toISOString(), sessions: 0, closed: 0, first_response_seconds: {}});
  const fr = s.first_response_seconds || {}, hd = s.handling_seconds || {};
  fill(out,
    h('dl', {class: 'figures'},
      fig(t('stats.sessions'), s.sessions), fig(t('stats.closed'), s.closed), fig(t('stats.abandoned'), s.abandoned),
      fig(t('stats.firstResponse'), `${secs(fr.p50)} / ${secs(fr.p90)}`), fig(t('stats.handling'), `${secs(hd.p50)} / ${secs(hd.p90)}`),
      fig(t('stats.messages'), `${s.messages_in ?? 0} / ${s.messages_out ?? 0}`)),
    h('section', {class: 'card'}, h('h2', {text: t('stats.perHour')}),
      bars(hours.map((x) => ({at: new Date(x.at), v: x.sessions})), t('stats.perHour'))),
    h('section', {class: 'card'}, h('h2', {text: t('stats.frPerHour')}),
      lines(hours.map((x) => ({at: new Date(x.at), a: (x.first_response_seconds || {}).p50, b: (x.first_response_seconds || {}).p90})), t('stats.frPerHour'))),
    h('section', {class: 'card'}, h('h2', {text: t('stats.satisfaction')}), satisfaction(s.satisfaction || {})));
}

function fig(label, value) {
  return h('div', {}, h('dt', {text: label}), h('dd', {text: String(value ?? 0)}));
}

const W = 960, H = 220, PAD = 34;

function axis(g, max, n, label) {
  g.appendChild(svg('line', {x1: PAD, y1: H - PAD, x2: W - 4, y2: H - PAD, class: 'axis'}));
  g.appendChild(svg('text', {x: 2, y: 12, class: 'tick', text: label(max)}));
  g.appendChild(svg('text', {x: 2, y: H - PAD, class: 'tick', text: '0'}));
  return (W - PAD - 8) / Math.max(n, 1);
}

function hourLabel(d) { return `${String(d.getHours()).padStart(2, '0')}h`; }

function bars(points, title) {
  const max = Math.max(1, ...points.map((p) => p.v));
  const g = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title});
  const step = axis(g, max, points.length, String);
  const every = Math.ceil(points.length / 12);
  points.forEach((p, i) => {
    const bh = (H - PAD - 16) * p.v / max;
    const x = PAD + 4 + i * step;
    g.appendChild(svg('rect', {x, y: H - PAD - bh, width: Math.max(1, step - 2), height: bh, class: 'bar'},
      svg('title', {text: `${hourLabel(p.at)}: ${p.v}`})));
    if (i % every === 0) g.appendChild(svg('text', {x, y: H - 10, class: 'tick', text: hourLabel(p.at)}));
  });
  return g;
}

function lines(points, title) {
  const vals = points.flatMap((p) => [p.a, p.b]).filter((v) => typeof v === 'number');
  const max = Math.max(1, ...vals);
  const g = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title});
  const step = axis(g, max, points.length, secs);
  for (const [key, cls] of [['a', 'p50'], ['b', 'p90']]) {
    const pts = points.map((p, i) => (typeof p[key] === 'number' ? `${PAD + 4 + i * step + step / 2},${H - PAD - (H - PAD - 16) * p[key] / max}` : null)).filter(Boolean);
    if (pts.length) g.appendChild(svg('polyline', {points: pts.join(' '), class: `line ${cls}`}));
    for (const p of pts) {
      const [x, y] = p.split(',');
      g.appendChild(svg('circle', {cx: x, cy: y, r: 3, class: `pt ${cls}`}));
    }
  }
  g.appendChild(svg('text', {x: W - 90, y: 14, class: 'legend p50', text: 'p50'}));
  g.appendChild(svg('text', {x: W - 50, y: 14, class: 'legend p90', text: 'p90'}));
  return g;
}

function satisfaction(m) {
  const entries = Object.entries(m);
  if (!entries.length) return h('p', {class: 'muted', text: t('stats.noSurvey')});
  const total = entries.reduce((a, [, n]) => a + n, 0);
  const g = svg('svg', {viewBox: `0 0 ${W} ${entries.length * 28 + 8}`, class: 'chart', role: 'img', 'aria-label': t('stats.satisfaction')});
  entries.forEach(([k, n], i) => {
    const w = (W - 220) * n / total;
    g.appendChild(svg('text', {x: 0, y: i * 28 + 20, class: 'tick', text: k.replace(/^\S+\s/, '')}));
    g.appendChild(svg('rect', {x: 140, y: i * 28 + 6, width: Math.max(1, w), height: 18, class: 'bar'}));
    g.appendChild(svg('text', {x: 146 + w, y: i * 28 + 20, class: 'tick', text: `${n} (${Math.round(100 * n / total)}%)`}));
  });
  return g;
}
