// The console: sign-in, then the agents' desk or the supervisors' board,
// chosen by the URL's hash (#/desk, #/board, #/stats, #/people, #/canned,
// #/accounts, #/search).
import {h, fill, toast} from './dom.js';
import {api, get, put, del, whenSignedOut} from './api.js';
import {t, languages, lang, setLang} from './i18n.js';
import {signInView} from './signin.js';
import {Desk} from './desk.js';
import {Board} from './board.js';
import {statsView} from './stats.js';
import {peopleView, cannedView, accountsView, searchView} from './admin.js';

const app = document.getElementById('app');
let me = null;
let view = null;

whenSignedOut(() => { if (me) { me = null; start(); } });

async function start() {
  if (view && view.stop) view.stop();
  view = null;
  try {
    me = (await get('/me')).me;
  } catch {
    me = null;
  }
  if (!me) {
    fill(app, signInView(async () => start()));
    return;
  }
  route();
}

// The pages a role sees, in the navigation's order.
function pages() {
  const p = [];
  if (me.id) p.push(['desk', t('nav.desk')]);
  if (me.role === 'supervisor' || me.role === 'admin') {
    p.push(['board', t('nav.board')], ['stats', t('nav.stats')], ['search', t('nav.search')]);
  }
  if (me.role === 'admin') p.push(['people', t('nav.people')], ['canned', t('nav.canned')], ['accounts', t('nav.accounts')]);
  return p;
}

function route() {
  if (!me) return;
  if (view && view.stop) view.stop();
  view = null;
  const all = pages();
  let page = location.hash.replace(/^#\/?/, '').split('/')[0];
  const allowed = all.some(([p]) => p === page);
  const main = h('main', {id: 'main', tabindex: '-1'});
  if (!allowed) {
    if (page && page !== 'desk') {
      fill(app, header(all, ''), fill(main, h('p', {class: 'denied', role: 'alert', text: t('denied')})));
      return;
    }
    page = all[0][0];
  }
  fill(app, header(all, page), main);
  document.title = `${pageTitle(all, page)} · kfgate`;
  switch (page) {
  case 'desk': view = new Desk(main, me); break;
  case 'board': view = new Board(main, me); break;
  case 'stats': view = statsView(main); break;
  case 'people': view = peopleView(main); break;
  case 'canned': view = cannedView(main); break;
  case 'accounts': view = accountsView(main); break;
  case 'search': view = searchView(main); break;
  }
}

function pageTitle(all, page) { return (all.find(([p]) => p === page) || [, 'kfgate'])[1]; }

function header(all, page) {
  const nav = h('nav', {'aria-label': t('nav.label')},
    all.map(([p, label]) => h('a', {href: `#/${p}`, 'aria-current': p === page ? 'page' : null, text: label})));
  const langSel = h('select', {'aria-label': t('lang'), onchange: (e) => { setLang(e.target.value); route(); }},
    languages.map(([v, label]) => h('option', {value: v, selected: v === lang(), text: label})));
  const menu = h('details', {class: 'menu'},
    h('summary', {text: me.name || me.id || t('admin.token')}),
    h('div', {class: 'menu-body'},
      h('p', {class: 'muted', text: `${me.id} · ${t('role.' + me.role)}`}),
      me.id ? h('button', {type: 'button', onclick: changePassword, text: t('password.change')}) : null,
      h('button', {type: 'button', onclick: signOut, text: t('signout')}),
      me.id ? h('button', {type: 'button', onclick: signOutAll, text: t('signout.all')}) : null));
  return h('header', {class: 'top'},
    h('a', {class: 'brand', href: '#/', text: 'kfgate'}), nav,
    h('div', {class: 'spacer'}),
    h('span', {id: 'conn', class: 'conn', role: 'status', 'aria-live': 'polite'}),
    langSel, menu);
}

async function signOut() {
  await del('/session').catch(() => {});
  me = null;
  start();
}

async function signOutAll() {
  await del('/me/sessions').catch(() => {});
  me = null;
  start();
}

function changePassword() {
  const old = h('input', {type: 'password', name: 'old_password', autocomplete: 'current-password', required: true});
  const pw = h('input', {type: 'password', name: 'new_password', autocomplete: 'new-password', minlength: 8, required: true});
  const msg = h('p', {class: 'error', role: 'alert'});
  const dlg = h('dialog', {class: 'dialog'},
    h('form', {method: 'dialog', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await put('/me/password', {old_password: old.value, password: pw.value});
        dlg.close();
        dlg.remove();
        toast(t('password.changed'));
      } catch (err) {
        msg.textContent = err.message;
      }
    }},
    h('h2', {text: t('password.change')}),
    h('label', {}, t('password.old'), old),
    h('label', {}, t('password.new'), pw),
    msg,
    h('div', {class: 'actions'},
      h('button', {type: 'button', onclick: () => { dlg.close(); dlg.remove(); }, text: t('cancel')}),
      h('button', {type: 'submit', class: 'primary', text: t('save')}))));
  document.body.appendChild(dlg);
  dlg.showModal();
}

window.addEventListener('hashchange', route);
start();
export {api};
