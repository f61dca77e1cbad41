// Live updates over GET /v1/ws: one WebSocket per client, authenticated with
// the game key as a subprotocol, channels subscribed on demand and again after
// every reconnect. Each update carries a per-channel seq; a listener is told
// when updates were missed (a gap, or a reconnect) so it refetches by HTTP.
// Widgets poll with ETags while the socket is down (see widgets.js).

export class Live {
  constructor(client) {
    this.client = client;
    this.channels = new Map(); // channel -> {listeners:Set, seq}
    this.ws = null;
    this.state = 'idle'; // idle | connecting | open | closed
    this.retryMs = 0;
    this.timer = null;
    this.closed = false;
    this.stateListeners = new Set();
  }

  url() {
    return this.client.baseUrl.replace(/^http/, 'ws') + '/v1/ws';
  }

  setState(s) {
    this.state = s;
    for (const f of this.stateListeners) f(s);
  }

  connect() {
    if (this.closed || this.ws || typeof WebSocket === 'undefined') return;
    let ws;
    try {
      ws = new WebSocket(this.url(), ['brightmatter.v1', `bm.auth.${this.client.options.apiKey}`]);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    this.setState('connecting');
    ws.onopen = () => {
      this.retryMs = 0;
      this.setState('open');
      if (this.channels.size) this.send({ type: 'subscribe', channels: [...this.channels.keys()] });
      // Whatever happened while the socket was down is unknown: listeners refetch.
      for (const [channel, ch] of this.channels) this.emit(channel, ch, { type: 'resync', channel });
    };
    ws.onmessage = (e) => {
      let m;
      try {
        m = JSON.parse(e.data);
      } catch {
        return;
      }
      const ch = this.channels.get(m.channel);
      if (!ch) return;
      if (m.type === 'subscribed') {
        ch.seq = m.seq;
        return;
      }
      if (typeof m.seq !== 'number' || !m.payload) return;
      const gap = ch.seq != null && m.seq !== ch.seq + 1;
      ch.seq = m.seq;
      this.emit(m.channel, ch, gap ? { ...m, gap: true } : m);
    };
    ws.onclose = () => {
      this.ws = null;
      for (const ch of this.channels.values()) ch.seq = null;
      this.setState('closed');
      this.retry();
    };
    ws.onerror = () => {};
  }

  retry() {
    if (this.closed) return;
    this.retryMs = Math.min(30000, this.retryMs ? this.retryMs * 2 : 500);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.retryMs * (0.5 + Math.random() / 2));
  }

  emit(channel, ch, m) {
    for (const f of ch.listeners) {
      try {
        f(m);
      } catch (e) {
        setTimeout(() => {
          throw e;
        });
      }
    }
  }

  send(m) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(m));
  }

  /** Calls listener(message) for updates on channel; returns the unsubscribe function. */
  subscribe(channel, listener) {
    let ch = this.channels.get(channel);
    if (!ch) {
      ch = { listeners: new Set(), seq: null };
      this.channels.set(channel, ch);
      this.send({ type: 'subscribe', channel });
    }
    ch.listeners.add(listener);
    this.connect();
    return () => {
      ch.listeners.delete(listener);
      if (!ch.listeners.size) {
        this.channels.delete(channel);
        this.send({ type: 'unsubscribe', channel });
      }
    };
  }

  onState(f) {
    this.stateListeners.add(f);
    return () => this.stateListeners.delete(f);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.ws?.close(1000);
  }
}
