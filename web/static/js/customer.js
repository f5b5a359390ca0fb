// The customer panel: the user's remark, WeChat tags, subscribe time and
// scene, past sessions, and the session's notes and labels. Each part
// shows only when this kfgate has the API for it.
import {h, fill, clock, toast} from './dom.js';
import {optional, patch, post, put, enc} from './api.js';
import {t} from './i18n.js';

export function customerPanel(s) {
  const box = h('div', {class: 'customer'}, h('h2', {text: t('customer.label')}),
    h('dl', {}, h('dt', {text: 'OpenID'}), h('dd', {class: 'mono', text: s.openid}),
      h('dt', {text: t('customer.account')}), h('dd', {text: s.account}),
      s.skill ? [h('dt', {text: t('customer.skill')}), h('dd', {text: s.skill})] : null));
  const user = h('div', {}), notes = h('div', {});
  box.append(user, notes);
  loadUser(s, user);
  loadNotes(s, notes);
  return box;
}

async function loadUser(s, el) {
  const data = await optional(`/users/${enc(s.account)}/${enc(s.openid)}`).catch(() => null);
  if (!data) return;
  const u = data.user || {};
  const tagNames = new Map((data.tags || []).map((x) => [x.id, x.name]));
  const remark = h('input', {name: 'remark', value: u.remark || '', 'aria-label': t('customer.remark')});
  const past = (data.sessions || []).filter((p) => p.id !== s.id);
  fill(el,
    h('label', {}, t('customer.remark'), remark,
      h('button', {type: 'button', onclick: async () => {
        try { await patch(`/users/${enc(s.account)}/${enc(s.openid)}`, {remark: remark.value}); toast(t('saved')); } catch (e) { toast(e.message, 'error'); }
      }, text: t('save')})),
    h('dl', {},
      u.nickname ? [h('dt', {text: t('customer.nickname')}), h('dd', {text: u.nickname})] : null,
      h('dt', {text: t('customer.tags')}), h('dd', {}, (u.tagid_list || []).map((x) => h('span', {class: 'tag', text: tagNames.get(x) || String(x)}))),
      u.subscribe_time ? [h('dt', {text: t('customer.subscribed')}), h('dd', {text: clock(typeof u.subscribe_time === 'number' ? u.subscribe_time * 1000 : u.subscribe_time)})] : null,
      u.subscribe_scene ? [h('dt', {text: t('customer.scene')}), h('dd', {text: u.subscribe_scene})] : null),
    h('h3', {text: t('customer.past')}),
    past.length ? h('ul', {class: 'past'}, past.slice(0, 10).map((p) => h('li', {text: `${clock(p.created_at)} · ${p.agent || '—'} · ${t('state.' + (p.state || 'closed'))}`})))
      : h('p', {class: 'muted', text: t('customer.noPast')}));
}

async function loadNotes(s, el) {
  const [data, labels] = await Promise.all([
    optional(`/sessions/${enc(s.id)}/notes`).catch(() => null),
    optional(`/sessions/${enc(s.id)}/labels`).catch(() => null)]);
  if (!data) return;
  const list = h('ul', {class: 'notes'}, (data.notes || []).map(noteEl));
  const text = h('textarea', {name: 'note', rows: 2, 'aria-label': t('notes.add')});
  fill(el, labels ? labelsEl(s, labels.labels || []) : null, h('h3', {text: t('notes.title')}), list,
    h('form', {class: 'note-form', onsubmit: async (e) => {
      e.preventDefault();
      if (!text.value.trim()) return;
      try {
        const r = await post(`/sessions/${enc(s.id)}/notes`, {text: text.value, content: undefined});
        list.appendChild(noteEl(r.note || {text: text.value, created_at: new Date().toISOString()}));
        text.value = '';
      } catch (err) { toast(err.message, 'error'); }
    }}, text, h('button', {type: 'submit', text: t('notes.add')})));
}

function noteEl(n) {
  return h('li', {}, h('p', {text: n.text || n.content || ''}), h('small', {class: 'muted', text: `${n.author || n.agent || ''} ${clock(n.created_at)}`}));
}

// labelsEl shows the session's labels; a new one is added with Enter, one
// is removed with its ×.
function labelsEl(s, labels) {
  const box = h('div', {class: 'labels'});
  const input = h('input', {name: 'label', placeholder: t('labels.add'), 'aria-label': t('labels.add')});
  async function save(next) {
    try {
      labels = (await put(`/sessions/${enc(s.id)}/labels`, {labels: next})).labels || next;
      draw();
    } catch (e) { toast(e.message, 'error'); }
  }
  function draw() {
    fill(box, h('h3', {text: t('labels.title')}),
      h('div', {}, labels.map((l) => h('span', {class: 'tag'}, l,
        h('button', {type: 'button', class: 'x', 'aria-label': t('labels.remove', {label: l}), onclick: () => save(labels.filter((x) => x !== l)), text: '×'})))),
      input);
  }
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && input.value.trim() && !e.isComposing) {
      e.preventDefault();
      const v = input.value.trim();
      input.value = '';
      if (!labels.includes(v)) save([...labels, v]);
    }
  });
  draw();
  return box;
}
