// The console's strings: every one lives in lang/<language>.js, one file
// per language. Chinese (zh-CN) is the default; the choice is remembered
// in this browser.
import zh from './lang/zh-CN.js';
import en from './lang/en.js';

const langs = {'zh-CN': zh, en};
let current = localStorage.getItem('kfgate.lang') || 'zh-CN';
if (!langs[current]) current = 'zh-CN';
document.documentElement.lang = current;

export const languages = [['zh-CN', '中文'], ['en', 'English']];
export function lang() { return current; }
export function setLang(l) {
  if (!langs[l]) return;
  current = l;
  localStorage.setItem('kfgate.lang', l);
  document.documentElement.lang = l;
}

// t returns the string for key, with {name} replaced from vars; a missing
// key shows as itself (and is a bug).
export function t(key, vars) {
  let s = langs[current][key] ?? zh[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}
