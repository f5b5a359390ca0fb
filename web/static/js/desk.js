// The agents' desk: my conversations (who has waited longest for an
// answer first, unread badges, state, the 48-hour window and the reply
// quota), the open conversation, the customer panel, my status, transfer
// and close. Live over the agent's WebSocket; after a reconnect it
// re-reads everything (resync) and says so.
import {h, fill, toast, duration} from './dom.js';
import {get, put, post, optional, enc} from './api.js';
import {t} from './i18n.js';
import {Live} from './socket.js';
import {norm} from './messages.js';
import {Conversation} from './conversation.js';
import {customerPanel} from './customer.js';

const WINDOW = 48 * 3600 * 1000; // WeChat's customer-service window

export class Desk {
  constructor(root, me) {
    this.me = me;
    this.items = new Map(); // session id → {s, conv, unread, waitingSince, lastIn, quota}
    this.current = null;
    this.title = document.title;
    this.missed = 0;
    this.listEl = h('ul', {class: 'sessions', 'aria-label': t('desk.list')});
    this.paneEl = h('div', {class: 'pane'}, h('p', {class: 'empty', text: t('desk.none')}));
    this.sideEl = h('aside', {class: 'side', 'aria-label': t('customer.label')});
    this.statusSel = h('select', {name: 'status', 'aria-label': t('status.mine'), onchange: () => this.setStatus(this.statusSel.value)},
      ['online', 'away', 'offline'].map((s) => h('option', {value: s, text: t('agent.' + s)})));
    this.statusSel.value = me.status || 'offline';
    this.root = fill(root, h('div', {class: 'desk'},
      h('section', {class: 'list'},
        h('div', {class: 'list-head'}, h('h1', {text: t('desk.title')}), h('label', {class: 'status'}, this.statusSel)),
        this.listEl),
      this.paneEl, this.sideEl));
    this.onVisible = () => { if (!document.hidden) { this.missed = 0; document.title = this.title; } };
    document.addEventListener('visibilitychange', this.onVisible);
    this.live = new Live({
      onEvent: (ev) => this.event(ev),
      onState: (s, wait) => connState(s, wait),
      onOpen: (again) => this.resync(again),
    });
    this.tick = setInterval(() => this.renderList(), 15000);
  }

  stop() {
    this.live.stop();
    clearInterval(this.tick);
    document.removeEventListener('visibilitychange', this.onVisible);
    document.title = this.title;
  }

  async setStatus(s) {
    try {
      await put('/agent/status', {status: s});
      toast(t('status.set', {status: t('agent.' + s)}));
    } catch (e) {
      toast(e.message, 'error');
    }
  }

  // resync re-reads my sessions and the open transcript; after a
  // reconnection it says so (events sent during the gap were lost).
  async resync(again = false) {
    let data;
    const asked = performance.now();
    try { data = await get('/agent/sessions'); } catch (e) { toast(e.message, 'error'); return; }
    const seen = new Set();
    for (const s of data.sessions || []) {
      seen.add(s.id);
      this.upsert(s);
    }
    // A session gone from the answer is dropped — unless an event brought
    // it after the question left: the answer is older than the event.
    for (const [id, it] of [...this.items]) if (!seen.has(id) && !(it.since > asked)) this.items.delete(id);
    try {
      const me = (await get('/me')).me;
      if (me.status) this.statusSel.value = me.status;
    } catch { /* keep */ }
    if (this.current && this.items.has(this.current)) await this.items.get(this.current).conv.load();
    else if (this.current) this.select(null);
    this.renderList();
    if (again) toast(t('conn.resynced'));
  }

  upsert(s, context) {
    let it = this.items.get(s.id);
    if (!it) {
      it = {s, conv: new Conversation(s, {onSent: () => this.answered(s.id)}), unread: 0, waitingSince: null, lastIn: null, quota: null, loaded: false, context,
        since: performance.now()};
      this.items.set(s.id, it);
      if (s.unread) it.unread = s.unread;
      if (s.waiting_since) it.waitingSince = new Date(s.waiting_since);
      if (s.last_user_message_at) it.lastIn = new Date(s.last_user_message_at);
    } else {
      it.s = {...it.s, ...s};
      if (context) it.context = context;
    }
    return it;
  }

  answered(id) {
    const it = this.items.get(id);
    if (it) { it.waitingSince = null; this.renderList(); }
  }

  event(ev) {
    const me = this.me.id;
    const sid = ev.session;
    switch (ev.type) {
    case 'resync':
      this.resync(true);
      return;
    case 'session.assigned':
    case 'session.transferred': {
      if (ev.agent !== me) {
        if (ev.from_agent === me) {
          this.items.delete(sid);
          if (this.current === sid) this.select(null);
          toast(t('desk.transferredAway', {user: ev.openid}));
        }
        break;
      }
      const it = this.upsert({id: sid, account: ev.account, openid: ev.openid, state: ev.state, agent: ev.agent, skill: ev.skill, created_at: ev.at},
        ev.context);
      if (ev.context && ev.context.length) {
        const msgs = ev.context.map(norm).filter(Boolean);
        const lastIn = msgs.filter((m) => m.dir === 'in').at(-1);
        if (lastIn) it.lastIn = lastIn.at;
        if (msgs.length && msgs.at(-1).dir === 'in') it.waitingSince = msgs.findLast((m) => m.dir === 'out') ? msgs.at(-1).at : msgs.find((m) => m.dir === 'in').at;
        if (this.current === sid) it.conv.setAll(msgs);
      }
      this.notify(t('desk.newSession', {user: ev.openid}));
      break;
    }
    case 'session.closed':
      if (this.items.has(sid)) {
        this.items.delete(sid);
        if (this.current === sid) this.select(null);
        toast(t('desk.closed', {user: ev.openid}));
      }
      break;
    case 'session.warned': {
      const it = this.items.get(sid);
      if (it) { it.warned = true; toast(t('desk.warned', {user: ev.openid}), 'warn'); }
      break;
    }
    case 'message.received': {
      let it = this.items.get(sid);
      if (!it) it = this.upsert({id: sid, account: ev.account, openid: ev.openid, state: ev.state || 'serving', agent: me});
      const m = norm(ev.message || {});
      if (!m) break;
      m.dir = 'in';
      if (ev.quota !== undefined) it.quota = ev.quota;
      it.lastIn = m.at;
      if (!it.waitingSince) it.waitingSince = m.at;
      it.conv.add(m);
      if (this.current !== sid || document.hidden) it.unread++;
      this.notify(m.content || t('msg.' + m.type));
      break;
    }
    case 'message.status': {
      const it = this.items.get(sid);
      const m = ev.message || {};
      const id = m.id ?? ev.id;
      if (it && id !== undefined) it.conv.statusOrKeep(id, m.status ?? ev.status, m.reason ?? ev.reason);
      return; // the list does not change
    }
    default:
      return;
    }
    this.renderList();
  }

  // notify: a new message while the tab is hidden shows in the title,
  // with a short tone.
  notify(text) {
    if (!document.hidden) return;
    this.missed++;
    document.title = `(${this.missed}) ${text.slice(0, 30)} · kfgate`;
    try {
      const ctx = this.audio ||= new AudioContext();
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 880;
      g.gain.value = 0.05;
      o.connect(g).connect(ctx.destination);
      o.start();
      o.stop(ctx.currentTime + 0.12);
    } catch { /* no sound */ }
  }

  sorted() {
    return [...this.items.values()].sort((a, b) => {
      const wa = a.waitingSince ? a.waitingSince.getTime() : Infinity, wb = b.waitingSince ? b.waitingSince.getTime() : Infinity;
      if (wa !== wb) return wa - wb;
      return String(b.s.updated_at || '').localeCompare(String(a.s.updated_at || ''));
    });
  }

  renderList() {
    const now = Date.now();
    const items = this.sorted();
    if (!items.length) {
      fill(this.listEl, h('li', {class: 'empty', text: t('desk.noSessions')}));
      return;
    }
    fill(this.listEl, items.map((it) => {
      const s = it.s;
      const left = it.lastIn ? WINDOW - (now - it.lastIn.getTime()) : null;
      const badges = [];
      if (it.unread) badges.push(h('span', {class: 'badge', 'aria-label': t('desk.unread', {n: it.unread}), text: String(it.unread)}));
      if (it.waitingSince) badges.push(h('span', {class: 'wait', text: t('desk.waiting', {d: duration((now - it.waitingSince) / 1000)})}));
      if (left !== null && left < 12 * 3600 * 1000) badges.push(h('span', {class: 'window warn', text: left <= 0 ? t('desk.windowClosed') : t('desk.windowLeft', {d: duration(left / 1000)})}));
      if (it.quota !== null && it.quota <= 2) badges.push(h('span', {class: 'quota warn', text: t('desk.quota', {n: it.quota})}));
      return h('li', {},
        h('button', {type: 'button', class: 'session' + (this.current === s.id ? ' active' : ''), 'aria-current': this.current === s.id ? 'true' : null,
          dataset: {session: s.id, openid: s.openid}, onclick: () => this.select(s.id)},
        h('span', {class: 'who', text: s.remark || s.openid}),
        h('span', {class: `state ${s.state}`, text: t('state.' + s.state)}),
        h('span', {class: 'badges'}, badges)));
    }));
  }

  async select(id) {
    this.current = id;
    this.root.querySelector('.desk').classList.toggle('open', !!id);
    const it = id && this.items.get(id);
    if (!it) {
      fill(this.paneEl, h('p', {class: 'empty', text: t('desk.none')}));
      fill(this.sideEl);
      this.renderList();
      return;
    }
    it.unread = 0;
    const s = it.s;
    const head = h('div', {class: 'conv-head'},
      h('button', {type: 'button', class: 'back', 'aria-label': t('back'), onclick: () => this.select(null), text: '←'}),
      h('h2', {text: s.remark || s.openid}),
      h('span', {class: 'muted', text: s.account}),
      h('div', {class: 'spacer'}),
      h('button', {type: 'button', onclick: () => transferDialog(s, this.me), text: t('transfer')}),
      h('button', {type: 'button', class: 'danger', onclick: () => closeSession(s), text: t('close')}));
    fill(this.paneEl, head, it.conv.el);
    if (!it.loaded) {
      it.loaded = true;
      await it.conv.load(it.context);
    }
    it.conv.scroll();
    if (it.conv.text && matchMedia('(min-width: 700px)').matches) it.conv.text.focus();
    fill(this.sideEl, customerPanel(s));
    this.renderList();
  }
}

// connState shows the WebSocket's state in the header.
export function connState(s, wait) {
  const el = document.getElementById('conn');
  if (!el) return;
  el.dataset.state = s;
  el.textContent = s === 'open' ? t('conn.open') : s === 'connecting' ? t('conn.connecting') : t('conn.retry', {s: Math.round(wait / 1000)});
}

export function closeSession(s) {
  const dlg = h('dialog', {class: 'dialog'},
    h('form', {method: 'dialog', onsubmit: async (e) => {
      e.preventDefault();
      dlg.close();
      dlg.remove();
      try {
        await post(`/sessions/${enc(s.id)}/close`);
      } catch (err) {
        toast(err.message, 'error');
      }
    }},
    h('h2', {text: t('close.confirm', {user: s.openid})}),
    h('div', {class: 'actions'},
      h('button', {type: 'button', onclick: () => { dlg.close(); dlg.remove(); }, text: t('cancel')}),
      h('button', {type: 'submit', class: 'danger', name: 'confirm-close', text: t('close')}))));
  document.body.appendChild(dlg);
  dlg.showModal();
}

// transferDialog offers the online colleagues (with their load) and the
// skills; "take over" is a supervisor's transfer to themself.
export async function transferDialog(s, me) {
  const list = h('ul', {class: 'agents'}, h('li', {text: t('loading')}));
  const skill = h('input', {name: 'skill', placeholder: t('transfer.skill')});
  const dlg = h('dialog', {class: 'dialog'},
    h('form', {method: 'dialog', onsubmit: async (e) => {
      e.preventDefault();
      if (skill.value.trim()) await go({skill: skill.value.trim()});
    }},
    h('h2', {text: t('transfer.title', {user: s.openid})}),
    h('h3', {text: t('transfer.agents')}), list,
    h('label', {}, t('transfer.toSkill'), skill),
    h('div', {class: 'actions'},
      h('button', {type: 'button', onclick: () => { dlg.close(); dlg.remove(); }, text: t('cancel')}),
      h('button', {type: 'submit', text: t('transfer.toSkillGo')}))));
  async function go(body) {
    try {
      await post(`/sessions/${enc(s.id)}/transfer`, body);
      toast(t('transfer.done'));
      dlg.close();
      dlg.remove();
    } catch (e) {
      toast(e.message, 'error');
    }
  }
  document.body.appendChild(dlg);
  dlg.showModal();
  const data = (await optional('/agent/team').catch(() => null)) || (await optional('/agents').catch(() => null)) || {agents: []};
  const agents = (data.agents || []).filter((a) => a.id !== s.agent && (!a.accounts || a.accounts.includes(s.account)));
  agents.sort((a, b) => (a.status === 'online' ? 0 : 1) - (b.status === 'online' ? 0 : 1) || a.load - b.load);
  fill(list, agents.length ? agents.map((a) => h('li', {},
    h('button', {type: 'button', disabled: a.status !== 'online', dataset: {agent: a.id}, onclick: () => go({to_agent: a.id})},
      h('span', {text: a.name && a.name !== a.id ? `${a.name} (${a.id})` : a.id}),
      h('span', {class: 'muted', text: ` ${t('agent.' + a.status)} · ${a.load}/${a.max_sessions}`})))) : h('li', {class: 'muted', text: t('transfer.nobody')}));
  if (me && me.id && (me.role === 'supervisor' || me.role === 'admin') && s.agent !== me.id) {
    list.prepend(h('li', {}, h('button', {type: 'button', class: 'primary', onclick: () => go({to_agent: me.id}), text: t('takeover')})));
  }
}
