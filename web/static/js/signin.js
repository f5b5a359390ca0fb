// The sign-in form: input[name=username], input[name=password]; Enter
// submits. A refusal is said in words, and no cookie is set.
import {h} from './dom.js';
import {post} from './api.js';
import {t, languages, lang, setLang} from './i18n.js';

export function signInView(done) {
  const user = h('input', {name: 'username', autocomplete: 'username', required: true, autofocus: true});
  const pass = h('input', {name: 'password', type: 'password', autocomplete: 'current-password', required: true});
  const msg = h('p', {class: 'error', role: 'alert', id: 'signin-error'});
  const button = h('button', {type: 'submit', class: 'primary', text: t('signin')});
  const form = h('form', {class: 'signin', 'aria-describedby': 'signin-error', onsubmit: async (e) => {
    e.preventDefault();
    msg.textContent = '';
    button.disabled = true;
    try {
      await post('/session', {username: user.value.trim(), password: pass.value});
      done();
    } catch (err) {
      msg.textContent = err.status === 401 ? t('signin.wrong') : err.status === 429 ? t('signin.blocked') : err.message;
      pass.select();
    } finally {
      button.disabled = false;
    }
  }},
  h('h1', {text: 'kfgate'}),
  h('p', {class: 'muted', text: t('signin.lead')}),
  h('label', {}, t('username'), user),
  h('label', {}, t('password'), pass),
  msg, button,
  h('select', {'aria-label': t('lang'), onchange: (e) => { setLang(e.target.value); done(); }},
    languages.map(([v, label]) => h('option', {value: v, selected: v === lang(), text: label}))));
  return h('main', {class: 'signin-page'}, form);
}
