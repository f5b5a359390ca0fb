// The admin's pages: people (create with a password and a role, accounts,
// skills, max sessions, the WeChat kf account they answer as, reset a
// password, disable; and the accounts' kf accounts), canned replies,
// accounts with their token health, transcript search.
import {h, fill, toast, clock} from './dom.js';
import {get, post, patch, put, del, optional, enc} from './api.js';
import {t} from './i18n.js';
import {kfSection} from './kfaccounts.js';

const list = (v) => v.split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean);

export function peopleView(root) {
  const body = h('tbody');
  const f = {
    id: h('input', {name: 'id', required: true, pattern: '[A-Za-z0-9_-]{1,64}'}),
    name: h('input', {name: 'name'}),
    password: h('input', {name: 'new-password', type: 'password', autocomplete: 'new-password', minlength: 8}),
    role: h('select', {name: 'role'}, ['agent', 'supervisor', 'admin'].map((r) => h('option', {value: r, text: t('role.' + r)}))),
    accounts: h('input', {name: 'accounts', required: true, placeholder: 'wx…, wx…'}),
    skills: h('input', {name: 'skills'}),
    max: h('input', {name: 'max_sessions', type: 'number', min: 1, value: 5}),
    kf: h('input', {name: 'kf_account', placeholder: 'prefix@wechatid'}),
  };
  const kf = kfSection();
  const form = h('form', {class: 'card create', onsubmit: async (e) => {
    e.preventDefault();
    try {
      await post('/agents', {id: f.id.value.trim(), name: f.name.value.trim(), password: f.password.value || undefined, role: f.role.value,
        accounts: list(f.accounts.value), skills: list(f.skills.value), max_sessions: Number(f.max.value),
        kf_account: f.kf.value.trim() || undefined});
      toast(t('people.created', {id: f.id.value}));
      form.reset();
      load();
      kf.reload();
    } catch (err) { toast(err.message, 'error'); }
  }},
  h('h2', {text: t('people.create')}),
  h('div', {class: 'grid'},
    h('label', {}, t('people.id'), f.id), h('label', {}, t('people.name'), f.name),
    h('label', {}, t('password'), f.password), h('label', {}, t('people.role'), f.role),
    h('label', {}, t('people.accounts'), f.accounts), h('label', {}, t('people.skills'), f.skills),
    h('label', {}, t('people.max'), f.max), h('label', {}, t('people.kf'), f.kf)),
  h('button', {type: 'submit', class: 'primary', text: t('people.createGo')}));
  optional('/accounts').then((d) => { if (d && d.accounts.length) f.accounts.value = d.accounts.map((a) => a.appid).join(', '); }).catch(() => {});
  fill(root, h('div', {class: 'people'}, h('h1', {text: t('nav.people')}), form,
    h('section', {class: 'card'}, h('table', {},
      h('thead', {}, h('tr', {}, [t('people.id'), t('people.role'), t('people.accounts'), t('people.skills'), t('people.max'), t('people.kf'), t('board.status'), ''].map((x) => h('th', {text: x})))),
      body)),
    kf.section));
  async function load() {
    const d = await get('/agents');
    fill(body, d.agents.map((a) => {
      const role = h('select', {'aria-label': t('people.role'), onchange: () => save({role: role.value})},
        ['agent', 'supervisor', 'admin'].map((r) => h('option', {value: r, selected: (a.role || 'agent') === r, text: t('role.' + r)})));
      const max = h('input', {type: 'number', min: 1, value: a.max_sessions, class: 'narrow', 'aria-label': t('people.max'), onchange: () => save({max_sessions: Number(max.value)})});
      const acc = h('input', {value: (a.accounts || []).join(', '), 'aria-label': t('people.accounts'), onchange: () => save({accounts: list(acc.value)})});
      const sk = h('input', {value: (a.skills || []).join(', '), 'aria-label': t('people.skills'), onchange: () => save({skills: list(sk.value)})});
      const kfa = h('input', {value: a.kf_account || '', name: 'kf_account', placeholder: 'prefix@wechatid', 'aria-label': t('people.kf'),
        onchange: () => save({kf_account: kfa.value.trim()})});
      async function save(p) {
        try { await patch(`/agents/${enc(a.id)}`, p); toast(t('saved')); load(); kf.reload(); } catch (e) { toast(e.message, 'error'); }
      }
      return h('tr', {dataset: {agent: a.id}, class: a.disabled ? 'disabled' : null},
        h('td', {}, h('strong', {text: a.id}), a.name && a.name !== a.id ? h('div', {class: 'muted', text: a.name}) : null),
        h('td', {}, role), h('td', {}, acc), h('td', {}, sk), h('td', {}, max), h('td', {}, kfa),
        h('td', {text: a.disabled ? t('people.disabled') : t('agent.' + a.status)}),
        h('td', {class: 'row-actions'},
          h('button', {type: 'button', onclick: async () => {
            const pw = prompt(t('people.newPassword', {id: a.id}));
            if (!pw) return;
            try { await put(`/agents/${enc(a.id)}/password`, {password: pw}); toast(t('password.reset')); } catch (e) { toast(e.message, 'error'); }
          }, text: t('people.reset')}),
          h('button', {type: 'button', onclick: () => save({disabled: !a.disabled}), text: a.disabled ? t('people.enable') : t('people.disable')})));
    }));
  }
  load().catch((e) => toast(e.message, 'error'));
  return {};
}

export function cannedView(root) {
  const body = h('ul', {class: 'canned-list'});
  const shortcut = h('input', {name: 'shortcut', required: true}), content = h('textarea', {name: 'content', rows: 3, required: true});
  fill(root, h('div', {class: 'canned'}, h('h1', {text: t('nav.canned')}),
    h('form', {class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      try { await post('/canned', {shortcut: shortcut.value, title: shortcut.value, content: content.value}); e.target.reset(); load(); } catch (err) { toast(err.message, 'error'); }
    }}, h('label', {}, t('canned.shortcut'), shortcut), h('label', {}, t('canned.content'), content), h('button', {type: 'submit', class: 'primary', text: t('save')})),
    h('section', {class: 'card'}, body)));
  async function load() {
    const d = await optional('/canned');
    if (!d) { fill(root, h('p', {class: 'muted', text: t('unavailable')})); return; }
    const items = d.canned || d.replies || [];
    fill(body, items.length ? items.map((c) => h('li', {}, h('strong', {text: c.shortcut || c.title || ''}), h('p', {text: c.content || c.text || ''}),
      h('button', {type: 'button', class: 'danger', onclick: async () => { await del(`/canned/${enc(c.id)}`).catch((e) => toast(e.message, 'error')); load(); }, text: t('delete')}))) :
      h('li', {class: 'muted', text: t('canned.none')}));
  }
  load().catch((e) => toast(e.message, 'error'));
  return {};
}

export function accountsView(root) {
  const body = h('tbody');
  fill(root, h('div', {class: 'accounts'}, h('h1', {text: t('nav.accounts')}),
    h('section', {class: 'card'}, h('table', {},
      h('thead', {}, h('tr', {}, [t('accounts.name'), 'AppID', t('accounts.mode'), t('accounts.token'), t('accounts.lastCallback'), t('accounts.hours')].map((x) => h('th', {text: x})))),
      body))));
  get('/accounts').then((d) => fill(body, d.accounts.map((a) => {
    const tok = a.token || {};
    const ok = tok.ok ?? tok.healthy ?? (tok.valid !== undefined ? tok.valid : !tok.error);
    return h('tr', {},
      h('td', {text: a.name}), h('td', {class: 'mono', text: a.appid}),
      h('td', {text: (a.safe_mode ? t('accounts.safe') : t('accounts.plain')) + (a.transfer_to_kf ? ' · kf' : '')}),
      h('td', {}, h('span', {class: `dot ${ok ? 'online' : 'offline'}`, text: ok ? t('accounts.tokenOk') : t('accounts.tokenBad')}),
        tok.expires_at ? h('div', {class: 'muted', text: t('accounts.expires', {at: clock(tok.expires_at)})}) : null,
        tok.error ? h('div', {class: 'error', text: String(tok.error)}) : null),
      h('td', {text: a.last_callback ? clock(a.last_callback) : '—'}),
      h('td', {text: (a.business_hours || []).join(', ') || t('accounts.always')}));
  }))).catch((e) => toast(e.message, 'error'));
  return {};
}

export function searchView(root) {
  const q = h('input', {name: 'q', type: 'search', required: true, 'aria-label': t('search.label'), placeholder: t('search.label')});
  const out = h('ol', {class: 'results', 'aria-live': 'polite'});
  fill(root, h('div', {class: 'search'}, h('h1', {text: t('nav.search')}),
    h('form', {role: 'search', class: 'toolbar', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const d = await get('/search?q=' + enc(q.value));
        const hits = d.results || d.messages || d.hits || [];
        fill(out, hits.length ? hits.map((r) => h('li', {},
          h('div', {class: 'muted', text: `${clock(r.created_at || r.at)} · ${r.openid || ''} · ${r.agent || ''} · ${r.session_id || r.session || ''}`}),
          h('p', {text: r.content || r.snippet || ''}))) : h('li', {class: 'muted', text: t('search.none')}));
      } catch (err) {
        fill(out, h('li', {class: 'muted', text: err.status === 404 ? t('unavailable') : err.message}));
      }
    }}, q, h('button', {type: 'submit', class: 'primary', text: t('search.go')})), out));
  return {};
}
