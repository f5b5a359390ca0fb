// The supervisors' board: every live session (the user and the serving
// agent by name, as text), sessions per account and state, the queues with
// their waiting times, the agents with status, load and occupancy. It
// re-reads on every event of the admin WebSocket (when this kfgate has
// one) and every few seconds. Any live conversation opens read-only, with
// take over, transfer and close.
import {h, fill, duration, toast} from './dom.js';
import {get, optional, enc} from './api.js';
import {t} from './i18n.js';
import {Live} from './socket.js';
import {Conversation} from './conversation.js';
import {closeSession, transferDialog, connState} from './desk.js';

// counted is how many a list shows: all of them, or the first of more.
const counted = (shown, total) => (total > shown ? t('board.partial', {shown, total}) : String(shown));

export class Board {
  constructor(root, me) {
    this.me = me;
    this.summary = h('section', {class: 'card', 'aria-labelledby': 'b-sum'}, h('h2', {id: 'b-sum', text: t('board.byState')}));
    this.sessions = h('section', {class: 'card wide', 'aria-labelledby': 'b-live'}, h('h2', {id: 'b-live', text: t('board.live')}));
    this.queue = h('section', {class: 'card', 'aria-labelledby': 'b-q'}, h('h2', {id: 'b-q', text: t('board.queue')}));
    this.agents = h('section', {class: 'card', 'aria-labelledby': 'b-a'}, h('h2', {id: 'b-a', text: t('board.agents')}));
    this.viewer = h('div', {class: 'viewer'});
    fill(root, h('div', {class: 'board'}, h('h1', {class: 'sr-only', text: t('nav.board')}), this.summary, this.queue, this.agents, this.sessions), this.viewer);
    this.refresh();
    this.timer = setInterval(() => this.refresh(), 5000);
    this.live = new Live({
      path: '/api/v1/agent/ws?scope=all',
      onEvent: () => this.soon(),
      onState: (s, w) => connState(s, w),
      onOpen: () => this.refresh(),
    });
  }

  stop() {
    clearInterval(this.timer);
    this.live.stop();
  }

  soon() {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.refresh(), 150);
  }

  async refresh() {
    try {
      const [agents, live, accounts] = await Promise.all([
        get('/agents'), optional('/sessions?limit=500'), optional('/accounts')]);
      const now = Date.now();
      const list = (live && live.sessions || []).filter((s) => s.state !== 'closed');
      // A page of the live list: in a surge, far fewer than there are.
      this.total = live && live.total || list.length;
      this.queued = live && live.queued;
      this.renderSessions(list, now);
      this.renderSummary(list, accounts && accounts.accounts || []);
      this.renderAgents(agents.agents || []);
      await this.renderQueue(accounts && accounts.accounts || [], list, now);
    } catch (e) {
      if (e.status !== 401) toast(e.message, 'error');
    }
  }

  renderSummary(list, accounts) {
    const states = ['waiting', 'serving', 'transferring'];
    const ids = [...new Set([...accounts.map((a) => a.appid), ...list.map((s) => s.account)])];
    fill(this.summary, h('h2', {id: 'b-sum', text: t('board.byState')}),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {text: t('board.account')}), states.map((s) => h('th', {text: t('state.' + s)})))),
        h('tbody', {}, ids.map((id) => {
          const a = accounts.find((x) => x.appid === id);
          return h('tr', {}, h('th', {text: a && a.name || id}),
            states.map((st) => h('td', {class: 'num', text: String(list.filter((s) => s.account === id && s.state === st).length)})));
        }))),
      list.length < this.total ? h('p', {class: 'muted partial', text: t('board.summaryPartial', {shown: list.length, total: this.total})}) : null);
  }

  renderSessions(list, now) {
    list.sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
    fill(this.sessions, h('h2', {id: 'b-live', text: `${t('board.live')} (${counted(list.length, this.total)})`}),
      list.length ? h('table', {class: 'live'},
        h('thead', {}, h('tr', {}, [t('board.user'), t('board.account'), t('board.state'), t('board.agent'), t('board.since'), ''].map((x) => h('th', {text: x})))),
        h('tbody', {}, list.map((s) => h('tr', {dataset: {session: s.id}},
          h('td', {class: 'user', text: s.remark || s.openid}),
          h('td', {text: s.account}),
          h('td', {}, h('span', {class: `state ${s.state}`, text: t('state.' + s.state)})),
          h('td', {class: 'agent', text: s.agent || '—'}),
          h('td', {class: 'num', text: duration((now - new Date(s.created_at)) / 1000)}),
          h('td', {}, h('button', {type: 'button', onclick: () => this.open(s), text: t('board.open')})))))) :
        h('p', {class: 'muted', text: t('board.noLive')}));
  }

  renderAgents(agents) {
    fill(this.agents, h('h2', {id: 'b-a', text: t('board.agents')}),
      h('table', {}, h('thead', {}, h('tr', {}, [t('board.agent'), t('board.status'), t('board.load'), t('board.occupancy')].map((x) => h('th', {text: x})))),
        h('tbody', {}, agents.filter((a) => !a.disabled).map((a) => {
          const occ = a.max_sessions ? Math.round(100 * a.load / a.max_sessions) : 0;
          return h('tr', {dataset: {agent: a.id}},
            h('td', {text: a.name && a.name !== a.id ? `${a.name} (${a.id})` : a.id}),
            h('td', {}, h('span', {class: `dot ${a.status}`, text: t('agent.' + a.status)})),
            h('td', {class: 'num', text: `${a.load}/${a.max_sessions}`}),
            h('td', {}, h('meter', {min: 0, max: 100, value: occ, 'aria-label': `${occ}%`}), ` ${occ}%`));
        }))));
  }

  async renderQueue(accounts, list, now) {
    let rows = list.filter((s) => s.state === 'waiting' || s.state === 'transferring').map((s) => ({
      openid: s.remark || s.openid, account: s.account, skill: s.skill || '', since: new Date(s.queued_at || s.waiting_since || s.updated_at || s.created_at)}));
    if (!rows.length && accounts.length && !list.length) {
      // Without the live list: the queues by account.
      for (const a of accounts) {
        const q = await optional(`/queue?account=${enc(a.appid)}`).catch(() => null);
        for (const w of (q && (q.waiting || q.queue)) || []) rows.push({openid: w.openid, account: a.appid, skill: w.skill || '', since: w.since ? new Date(w.since) : null});
      }
    }
    rows.sort((a, b) => (a.since || 0) - (b.since || 0));
    fill(this.queue, h('h2', {id: 'b-q', text: `${t('board.queue')} (${counted(rows.length, this.queued)})`}),
      rows.length ? h('ol', {class: 'queue'}, rows.map((r) => h('li', {},
        h('span', {class: 'user', text: r.openid}), ' ',
        h('span', {class: 'muted', text: `${r.account}${r.skill ? ' · ' + r.skill : ''}`}), ' ',
        r.since ? h('span', {class: 'wait', text: duration((now - r.since) / 1000)}) : null))) :
        h('p', {class: 'muted', text: t('board.queueEmpty')}));
  }

  async open(s) {
    const conv = new Conversation(s, {readOnly: true});
    fill(this.viewer, h('section', {class: 'card viewer-card', 'aria-label': t('board.viewing', {user: s.openid})},
      h('div', {class: 'conv-head'},
        h('h2', {text: t('board.viewing', {user: s.remark || s.openid})}),
        h('span', {class: 'muted', text: `${s.agent || '—'} · ${t('state.' + s.state)}`}),
        h('div', {class: 'spacer'}),
        this.me.id && s.agent !== this.me.id ? h('button', {type: 'button', class: 'primary', onclick: () => transferDialog(s, this.me), text: t('board.takeOrTransfer')}) : null,
        h('button', {type: 'button', class: 'danger', onclick: () => closeSession(s), text: t('close')}),
        h('button', {type: 'button', onclick: () => fill(this.viewer), text: t('board.hide')})),
      h('p', {class: 'muted', text: t('board.readOnly')}),
      conv.el));
    await conv.load();
    this.viewer.scrollIntoView({behavior: 'smooth'});
  }
}
