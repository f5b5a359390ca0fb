// A conversation pane: the transcript (both sides, live), and, for the
// agent who serves it, the composer — Enter sends, Shift+Enter breaks the
// line, "/" at the start offers canned replies — with image upload and
// typing shown to the user. Read-only for a supervisor looking in.
import {h, fill, toast, svg} from './dom.js';
import {get, post, api, optional, enc} from './api.js';
import {t} from './i18n.js';
import {norm, render, statusEl} from './messages.js';

// key identifies a message across sources (the archive's ids are not
// WeChat's): side, kind, text and the second it happened.
const key = (m) => `${m.dir}|${m.type}|${m.content}|${Math.round(m.at.getTime() / 2000)}`;

export class Conversation {
  constructor(session, {readOnly = false, onSent = () => {}} = {}) {
    this.session = session;
    this.readOnly = readOnly;
    this.onSent = onSent;
    this.byId = new Map();
    this.arrived = []; // the messages the events brought, for load to keep
    this.list = h('ol', {class: 'messages', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': t('conv.messages')});
    this.el = h('section', {class: 'conversation', 'aria-label': t('conv.label')}, this.list);
    if (!readOnly) this.el.appendChild(this.composer());
  }

  // load reads the transcript; context (from a transfer) comes first.
  async load(context = []) {
    let msgs = [];
    try {
      const data = await get(`/sessions/${enc(this.session.id)}/messages?limit=500`);
      msgs = (data.messages || []).map(norm).filter(Boolean);
      if (data.messages && data.messages.length && data.messages[0].id > (data.messages.at(-1).id || 0)) msgs.reverse();
    } catch (e) {
      if (e.status !== 404) toast(e.message, 'error');
    }
    const ctx = (context || []).map(norm).filter(Boolean);
    // What arrived live (before or while the transcript was read) stays,
    // unless the transcript has it already: the archive may lag a little.
    // The events' copy is the richer (the archive keeps no location or
    // link details): it wins when both have a message.
    const live = new Map(this.arrived.map((m) => [key(m), m]));
    const all = (msgs.length ? msgs : ctx).map((m) => live.get(key(m)) || m);
    const seen = new Set(all.map(key));
    const merged = all.concat(this.arrived.filter((m) => !seen.has(key(m))));
    merged.sort((a, b) => a.at - b.at);
    this.setAll(merged);
    this.el.dataset.loaded = '1';
  }

  setAll(msgs) {
    const frag = document.createDocumentFragment();
    this.byId.clear();
    for (const m of msgs) frag.appendChild(this.el_(m));
    this.list.replaceChildren(frag);
    this.scroll();
  }

  // el_ renders m; m.el is its element (a re-render replaces it).
  el_(m) {
    const el = render(m);
    m.el = el;
    if (m.id !== null && m.id !== undefined) this.byId.set(String(m.id), m);
    return el;
  }

  add(m) {
    if (!m) return;
    this.arrived.push(m);
    if (m.id !== null && this.byId.has(String(m.id))) return;
    const near = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    this.list.appendChild(this.el_(m));
    if (near || m.dir === 'out') this.scroll();
  }

  // status updates the delivery status of message id.
  status(id, status, reason) {
    const m = this.byId.get(String(id));
    if (!m) return;
    m.status = status;
    m.reason = reason || '';
    const old = m.el && m.el.querySelector('.delivery');
    if (old) old.replaceWith(statusEl(m));
  }

  scroll() { requestAnimationFrame(() => { this.list.scrollTop = this.list.scrollHeight; }); }

  composer() {
    const text = h('textarea', {name: 'message', rows: 2, placeholder: t('composer.placeholder'), 'aria-label': t('composer.label')});
    const picker = h('ul', {class: 'canned-picker', role: 'listbox', hidden: true});
    const file = h('input', {type: 'file', accept: 'image/*', hidden: true, onchange: () => this.sendImage(file)});
    let lastTyping = 0;
    text.addEventListener('keydown', (e) => {
      if (!picker.hidden && (e.key === 'ArrowDown' || e.key === 'ArrowUp' || e.key === 'Escape' || (e.key === 'Enter' && picker.querySelector('[aria-selected=true]')))) {
        this.pick(e, picker, text);
        return;
      }
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send(text);
      }
    });
    text.addEventListener('input', () => {
      if (text.value.startsWith('/')) this.showCanned(picker, text);
      else picker.hidden = true;
      const now = Date.now();
      if (text.value && now - lastTyping > 10000) {
        lastTyping = now;
        post(`/sessions/${enc(this.session.id)}/typing`, {typing: true}).catch(() => {});
      }
    });
    this.text = text;
    return h('form', {class: 'composer', onsubmit: (e) => { e.preventDefault(); this.send(text); }},
      picker, text,
      h('div', {class: 'composer-actions'},
        h('button', {type: 'button', class: 'icon', title: t('composer.image'), 'aria-label': t('composer.image'), onclick: () => file.click()}, imageIcon()),
        file,
        h('button', {type: 'submit', class: 'primary', text: t('composer.send')})));
  }

  async send(text) {
    const content = text.value;
    if (!content.trim()) return;
    text.value = '';
    const local = {id: null, dir: 'out', type: 'text', content, status: 'queued', at: new Date(), media: '', pic: '', location: null, link: null};
    this.arrived.push(local); // a transcript being read keeps it
    this.list.appendChild(this.el_(local));
    this.scroll();
    try {
      const data = await post(`/sessions/${enc(this.session.id)}/messages`, {type: 'text', content});
      if (data.message) {
        local.id = data.message.id;
        local.status = data.message.status || 'queued';
        this.byId.set(String(local.id), local);
        local.el.dataset.id = local.id;
        if (this.early && this.early.has(String(local.id))) {
          const [s, r] = this.early.get(String(local.id));
          this.status(local.id, s, r);
        }
      } else if (data.command) {
        local.el.remove();
        this.arrived.splice(this.arrived.indexOf(local), 1);
        toast(data.command.reply || t('composer.command'));
      }
      this.onSent();
    } catch (e) {
      local.status = 'failed';
      local.reason = e.message;
      local.el.querySelector('.delivery').replaceWith(statusEl(local));
    }
  }

  // statusEarly keeps a status that arrived before the POST answered.
  statusOrKeep(id, status, reason) {
    if (this.byId.has(String(id))) this.status(id, status, reason);
    else (this.early ||= new Map()).set(String(id), [status, reason]);
  }

  async sendImage(file) {
    const f = file.files[0];
    if (!f) return;
    const form = new FormData();
    form.append('image', f);
    const url = URL.createObjectURL(f);
    const local = {id: null, dir: 'out', type: 'image', content: '', media: '', pic: '', location: null, link: null, status: 'queued', at: new Date()};
    const el = this.el_(local);
    const img = el.querySelector('img');
    if (img) img.src = url;
    else el.firstChild.replaceWith(h('img', {src: url, alt: t('msg.image'), class: 'media'}));
    this.list.appendChild(el);
    this.scroll();
    try {
      const data = await api('POST', `/sessions/${enc(this.session.id)}/images`, form);
      local.id = data.message && data.message.id;
      this.byId.set(String(local.id), local);
    } catch (e) {
      local.status = 'failed';
      local.reason = e.message;
      el.querySelector('.delivery').replaceWith(statusEl(local));
    }
    file.value = '';
  }

  async showCanned(picker, text) {
    if (this.canned === undefined) {
      const data = await optional('/canned').catch(() => null);
      this.canned = data ? (data.canned || data.replies || []) : null;
    }
    if (!this.canned) { picker.hidden = true; return; }
    const q = text.value.slice(1).toLowerCase();
    const hits = this.canned.filter((c) => `${c.shortcut || c.title || ''} ${c.content || c.text || ''}`.toLowerCase().includes(q)).slice(0, 8);
    fill(picker, hits.map((c, i) => h('li', {role: 'option', 'aria-selected': i === 0 ? 'true' : 'false', dataset: {text: c.content || c.text || ''},
      onmousedown: (e) => { e.preventDefault(); text.value = c.content || c.text || ''; picker.hidden = true; text.focus(); }},
    h('strong', {text: c.shortcut || c.title || ''}), ' ', c.content || c.text || '')));
    picker.hidden = hits.length === 0;
  }

  pick(e, picker, text) {
    const items = [...picker.children];
    let i = items.findIndex((x) => x.getAttribute('aria-selected') === 'true');
    e.preventDefault();
    if (e.key === 'Escape') { picker.hidden = true; return; }
    if (e.key === 'Enter') {
      text.value = items[i].dataset.text;
      picker.hidden = true;
      return;
    }
    i = (i + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
    items.forEach((x, j) => x.setAttribute('aria-selected', j === i ? 'true' : 'false'));
  }
}

// imageIcon is a small picture glyph, drawn (no icon font, no emoji).
function imageIcon() {
  return svg('svg', {viewBox: '0 0 20 20', width: 18, height: 18, 'aria-hidden': 'true', class: 'glyph'},
    svg('rect', {x: 2, y: 3, width: 16, height: 14, rx: 2}),
    svg('circle', {cx: 7, cy: 8, r: 1.6}),
    svg('path', {d: 'M3 15l5-5 4 4 2-2 3 3'}));
}
