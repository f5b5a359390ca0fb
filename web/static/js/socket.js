import {get} from './api.js';

// The live events: one WebSocket to /api/v1/agent/ws, reconnected with
// exponential backoff (1 s doubling to 30 s, with jitter). After every
// reconnect the caller resyncs (onOpen), since events sent while the
// socket was down are lost.

export class Live {
  constructor({onEvent, onState, onOpen, path = '/api/v1/agent/ws'}) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.onOpen = onOpen;
    this.path = path;
    this.delay = 1000;
    this.stopped = false;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + this.path;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.onState('connecting');
    ws.onopen = () => {
      this.delay = 1000;
      this.onState('open');
      this.onOpen(this.opened); // true: a reconnection, after a gap
      this.opened = true;
    };
    ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (ev.type === 'access.revoked') {
        // Signed out elsewhere, reset or disabled: no reconnecting; the
        // next call finds the sign-in gone and shows the form.
        this.stop();
        get('/me').catch(() => {});
        return;
      }
      this.onEvent(ev);
    };
    ws.onclose = () => {
      if (this.ws !== ws || this.stopped) return;
      const wait = this.delay * (0.8 + Math.random() * 0.4);
      this.delay = Math.min(this.delay * 2, 30000);
      this.onState('reconnecting', wait);
      this.timer = setTimeout(() => this.connect(), wait);
    };
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
  }
}
