// One conversation's messages: normalising what the API and the events
// carry into one shape, and rendering each kind — text, image, voice,
// video, location, link — with its delivery status.
import {h, clock} from './dom.js';
import {t} from './i18n.js';

// norm turns a message from any source into
// {id, dir: 'in'|'out', type, content, media, pic, location, link, status, reason, at}:
// an archived message ({direction, …}), a user's message as the engine
// keeps it (kf.Message: {openid, type, create_time, …}), or an agent's
// ({from: 'agent', …}).
export function norm(m) {
  if (typeof m === 'string') {
    try { m = JSON.parse(m); } catch { return null; }
  }
  if (!m || typeof m !== 'object') return null;
  const out = m.direction === 'out' || m.dir === 'out' || m.from === 'agent' || m.agent_id || m.kind === 'agent' ||
    (m.direction === undefined && !m.openid && !m.create_time && !!m.agent);
  let at = m.created_at || m.at || (m.create_time ? m.create_time * 1000 : Date.now());
  if (typeof at === 'number' && at < 1e11) at *= 1000;
  const loc = m.location || (m.type === 'location' ? {} : null);
  return {
    id: m.id ?? m.message_id ?? m.msg_id ?? null,
    dir: out ? 'out' : 'in',
    type: m.type || m.msgtype || 'text',
    content: m.content ?? m.text ?? '',
    recognition: m.recognition || '',
    media: m.media_url || '',
    pic: m.pic_url || '',
    location: loc,
    link: m.url ? {title: m.title || m.url, description: m.description || '', url: m.url} : null,
    status: m.status && m.status !== 'received' ? m.status : (out ? 'sent' : ''),
    reason: m.reason || '',
    agent: m.agent || '',
    at: new Date(at),
  };
}

// render returns the element of message m.
export function render(m) {
  const el = h('li', {class: `msg ${m.dir}`, dataset: {id: m.id ?? ''}});
  el.appendChild(body(m));
  const meta = h('div', {class: 'meta'}, h('time', {datetime: m.at.toISOString(), text: clock(m.at)}));
  if (m.dir === 'out') meta.appendChild(statusEl(m));
  el.appendChild(meta);
  return el;
}

function safeURL(u) {
  try {
    const url = new URL(u, location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch { return null; }
}

// sameOrigin: the console shows media only from kfgate itself (the CSP
// allows nothing else); WeChat's own picture URL is offered as a link.
function sameOrigin(u) {
  const url = safeURL(u);
  return url && new URL(url).origin === location.origin ? url : null;
}

function body(m) {
  const src = sameOrigin(m.media);
  switch (m.type) {
  case 'image': {
    if (src) {
      const img = h('img', {src, alt: t('msg.image')});
      retryMedia(img, src);
      return h('a', {href: src, target: '_blank', rel: 'noopener', class: 'media'}, img);
    }
    const pic = safeURL(m.pic);
    return h('p', {class: 'bubble muted'}, t('msg.image'), pic ? [' ', h('a', {href: pic, target: '_blank', rel: 'noopener noreferrer', text: t('msg.openOriginal')})] : null);
  }
  case 'voice':
    return h('div', {class: 'bubble'},
      src ? h('audio', {controls: true, preload: 'none', src}) : h('span', {class: 'muted', text: t('msg.voice')}),
      m.recognition ? h('p', {class: 'recognition', text: `“${m.recognition}”`}) : null,
      src ? h('a', {href: src, download: '', text: t('download')}) : null);
  case 'video':
  case 'shortvideo':
    return h('div', {class: 'bubble'},
      src ? h('video', {controls: true, preload: 'none', src}) : h('span', {class: 'muted', text: t('msg.video')}),
      src ? h('a', {href: src, download: '', text: t('download')}) : null);
  case 'location': {
    const l = m.location || {};
    const x = l.x ?? l.latitude ?? l.lat, y = l.y ?? l.longitude ?? l.lng;
    return h('div', {class: 'bubble location'},
      h('strong', {class: 'pin', text: l.label || l.poiname || t('msg.location')}),
      x !== undefined ? h('span', {class: 'coords', text: `${Number(x).toFixed(5)}, ${Number(y).toFixed(5)}`}) : null);
  }
  case 'link': {
    const href = m.link && safeURL(m.link.url);
    return h('a', {class: 'bubble card', href: href || null, target: '_blank', rel: 'noopener noreferrer'},
      h('strong', {text: m.link ? m.link.title : t('msg.link')}),
      m.link && m.link.description ? h('span', {text: m.link.description}) : null,
      m.link ? h('small', {class: 'muted', text: m.link.url}) : null);
  }
  case 'event':
    return h('p', {class: 'bubble muted', text: t('msg.event')});
  default:
    return h('p', {class: 'bubble', text: m.content || (m.type === 'text' ? '' : `[${m.type}]`)});
  }
}

// retryMedia: kfgate downloads a user's media from WeChat after the
// message arrives; until then GET /api/v1/media/{id} answers 409. The
// picture is asked for again, with backoff, until stored — or, when the
// download failed, replaced by a note saying so.
function retryMedia(img, src, tries = 0) {
  img.addEventListener('error', async () => {
    let status = '';
    try {
      const r = await fetch(src + '/info', {credentials: 'same-origin'});
      if (r.ok) status = ((await r.json()).media || {}).status || '';
    } catch { /* offline: try again */ }
    if (status === 'failed' || tries >= 12) {
      if (img.parentNode) img.parentNode.replaceWith(h('p', {class: 'bubble muted', text: t('msg.imageGone')}));
      return;
    }
    const next = h('img', {alt: img.alt});
    retryMedia(next, src, tries + 1);
    setTimeout(() => {
      next.src = `${src}?try=${tries + 1}`;
      img.replaceWith(next);
    }, status === 'stored' ? 0 : Math.min(250 * 2 ** tries, 5000));
  }, {once: true});
}

export function statusEl(m) {
  const s = m.status || 'queued';
  const label = s === 'failed' ? `${t('status.failed')}: ${reasonText(m.reason)}` : t('status.' + s);
  return h('span', {class: `delivery ${s}`, dataset: {status: s}, title: m.reason || null, text: label});
}

// WeChat's refusals, in words.
const reasons = {
  '45015': 'reason.45015', '45047': 'reason.45047', '43004': 'reason.43004', '40003': 'reason.40003',
  '48001': 'reason.48001', '45009': 'reason.45009', window_closed: 'reason.45015', quota_exhausted: 'reason.45047',
};
export function reasonText(r) {
  if (!r) return t('reason.unknown');
  for (const [code, key] of Object.entries(reasons)) if (String(r).includes(code)) return t(key);
  return r;
}
