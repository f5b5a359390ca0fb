// The people page's section on an account's WeChat kf accounts (客服账号):
// the list with online state and the agent each is linked to, add, rename,
// avatar, invite, delete, and what differs between WeChat and kfgate's
// agents. Everything goes through /api/v1/accounts/{account}/kf (admin).
import {h, fill, toast} from './dom.js';
import {api, get, post, patch, del, optional, enc} from './api.js';
import {t} from './i18n.js';

// kfSection returns the section and reload, which the people table calls
// after an agent's kf account changed (the linked agents change with it).
export function kfSection() {
  const account = h('select', {name: 'kf-account-of', 'aria-label': t('kf.account')});
  const body = h('tbody');
  const sync = h('div', {class: 'kf-sync', 'aria-live': 'polite'});
  const kfName = h('input', {name: 'kf_account', required: true, placeholder: 'prefix@wechatid', pattern: '[A-Za-z0-9_]{1,10}@[A-Za-z0-9_\\-]{1,30}'});
  const nick = h('input', {name: 'nickname', required: true, maxlength: 16});
  const form = h('form', {class: 'kf-add toolbar', onsubmit: async (e) => {
    e.preventDefault();
    try {
      await post(`/accounts/${enc(account.value)}/kf`, {kf_account: kfName.value.trim(), nickname: nick.value.trim()});
      toast(t('kf.added', {kf: kfName.value.trim()}));
      form.reset();
      load();
    } catch (err) { toast(err.message, 'error'); }
  }},
  h('label', {}, t('kf.name'), kfName), h('label', {}, t('kf.nickname'), nick),
  h('button', {type: 'submit', class: 'primary', text: t('kf.add')}));
  const section = h('section', {class: 'card kf', 'aria-labelledby': 'kf-title'},
    h('div', {class: 'toolbar'}, h('h2', {id: 'kf-title', text: t('kf.title')}), account),
    h('p', {class: 'muted', text: t('kf.lead')}),
    form,
    h('table', {},
      h('thead', {}, h('tr', {}, [t('kf.name'), t('kf.nickname'), t('board.status'), t('kf.agent'), t('kf.wx'), ''].map((x) => h('th', {text: x})))),
      body),
    sync);
  account.addEventListener('change', () => load());

  async function load() {
    if (!account.value) return;
    const base = `/accounts/${enc(account.value)}/kf`;
    let d;
    try {
      d = await get(base);
    } catch (err) {
      fill(body, h('tr', {}, h('td', {colspan: 6, class: 'muted', text: err.message})));
      fill(sync);
      return;
    }
    fill(body, d.kf_accounts.length ? d.kf_accounts.map((k) => row(base, k)) :
      h('tr', {}, h('td', {colspan: 6, class: 'muted', text: t('kf.none')})));
    const s = await get(`/accounts/${enc(account.value)}/kf-sync`).catch(() => null);
    fill(sync, s ? differences(s) : null);
  }

  function row(base, k) {
    const path = `${base}/${enc(k.kf_account)}`;
    const nickname = h('input', {value: k.nickname, maxlength: 16, 'aria-label': t('kf.nickname'), onchange: async () => {
      try { await patch(path, {nickname: nickname.value.trim()}); toast(t('saved')); load(); } catch (e) { toast(e.message, 'error'); }
    }});
    const file = h('input', {type: 'file', accept: 'image/*', hidden: true, onchange: async () => {
      if (!file.files.length) return;
      const form = new FormData();
      form.append('avatar', file.files[0]);
      try { await api('PUT', path + '/avatar', form); toast(t('kf.avatarSet')); load(); } catch (e) { toast(e.message, 'error'); }
    }});
    const bound = k.wx ? k.wx : k.invite_wx ? t('kf.invited', {wx: k.invite_wx, status: t('kf.invite.' + (k.invite_status || 'waiting'))}) : '—';
    return h('tr', {dataset: {kf: k.kf_account}},
      h('td', {}, k.headimgurl ? h('span', {class: 'kf-avatar', title: t('kf.avatar'), text: '◉'}) : null, h('span', {class: 'mono', text: k.kf_account})),
      h('td', {}, nickname),
      h('td', {}, h('span', {class: `dot ${k.online ? 'online' : 'offline'}`, text: k.online ? t('agent.online') : t('agent.offline')}),
        k.online ? h('div', {class: 'muted', text: t('kf.accepted', {n: k.accepted_case})}) : null),
      h('td', {class: 'kf-agent', text: k.agent || t('kf.noAgent')}),
      h('td', {text: bound}),
      h('td', {class: 'row-actions'},
        file,
        h('button', {type: 'button', onclick: () => file.click(), text: t('kf.avatar')}),
        h('button', {type: 'button', onclick: async () => {
          const wx = prompt(t('kf.invitePrompt', {kf: k.kf_account}));
          if (!wx) return;
          try { await post(path + '/invite', {invite_wx: wx.trim()}); toast(t('kf.inviteSent', {wx: wx.trim()})); load(); } catch (e) { toast(e.message, 'error'); }
        }, text: t('kf.invite')}),
        h('button', {type: 'button', class: 'danger', onclick: async () => {
          if (!confirm(t('kf.deleteConfirm', {kf: k.kf_account}))) return;
          try { await del(path); toast(t('kf.deleted', {kf: k.kf_account})); load(); } catch (e) { toast(e.message, 'error'); }
        }, text: t('delete')})));
  }

  function differences(s) {
    const items = [
      ...s.kf_without_agent.map((kf) => t('kf.sync.unlinked', {kf})),
      ...s.agents_without_kf.map((a) => t('kf.sync.missing', {agent: a.agent, kf: a.kf_account})),
      ...s.nickname_differs.map((n) => t('kf.sync.nickname', {kf: n.kf_account, nickname: n.nickname, agent: n.agent, name: n.agent_name})),
    ];
    return [h('h3', {text: t('kf.sync')}),
      items.length ? h('ul', {}, items.map((x) => h('li', {text: x}))) : h('p', {class: 'muted', text: t('kf.sync.none')})];
  }

  optional('/accounts').then((d) => {
    if (!d || !d.accounts.length) { section.hidden = true; return; }
    fill(account, d.accounts.map((a) => h('option', {value: a.appid, text: a.name ? `${a.name} (${a.appid})` : a.appid})));
    load();
  }).catch((e) => toast(e.message, 'error'));
  return {section, reload: load};
}
