// Event tracking: every event gets a UUID when it is tracked and keeps it
// until the gateway has accepted it, so a send that is retried (a lost answer,
// a reload, a crash) is counted once by the engine. Events wait in the
// persistent queue; sends are batched and back off exponentially (with
// jitter, honouring Retry-After) while the network or the gateway is away.
import { openQueue } from './queue.js';
import { Live } from './live.js';

export function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const DEFAULTS = {
  batchSize: 50,
  flushIntervalMs: 1000,
  maxQueue: 10000,
  minBackoffMs: 500,
  maxBackoffMs: 60000,
  storage: 'indexeddb',
  live: true,
  pollMs: 5000,
};

export class Client {
  constructor(options) {
    for (const k of ['apiKey', 'gameId', 'baseUrl']) {
      if (!options || typeof options[k] !== 'string' || !options[k]) throw new TypeError(`BrightMatter.init: ${k} is required`);
    }
    this.options = { ...DEFAULTS, ...options };
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.userId = options.userId == null ? null : String(options.userId);
    this.stats = { sent: 0, rejected: 0, retries: 0 };
    this.queue = null;
    this.ready = openQueue(`brightmatter:${options.gameId}`, this.options.maxQueue, this.options.storage).then((q) => (this.queue = q));
    this.backoffMs = 0;
    this.timer = null;
    this.sending = null;
    this.stopped = false;
    this.live = this.options.live ? new Live(this) : null;
    this.onOnline = () => {
      this.backoffMs = 0;
      this.schedule(0);
    };
    if (typeof addEventListener === 'function') addEventListener('online', this.onOnline);
    this.ready.then(() => this.schedule(0));
  }

  /** Queues one event; resolves with its eventId once it is stored. */
  async track(eventType, data = {}, userId = this.userId) {
    if (typeof eventType !== 'string' || !eventType) throw new TypeError('track: eventType is required');
    if (userId == null || userId === '') throw new TypeError('track: userId is required (init({userId}) or track(type, data, userId))');
    const event = {
      eventId: uuid(),
      gameId: this.options.gameId,
      userId: String(userId),
      eventType,
      data: data ?? {},
      timestamp: new Date().toISOString(),
      source: 'web-sdk',
    };
    await this.ready;
    await this.queue.add(event);
    this.schedule(this.backoffMs ? null : this.options.flushIntervalMs);
    return event.eventId;
  }

  schedule(ms) {
    if (this.stopped || ms == null) return;
    if (this.timer) {
      if (ms >= this.timerMs) return;
      clearTimeout(this.timer);
    }
    this.timerMs = ms;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush().catch(() => {});
    }, ms);
  }

  headers(extra = {}) {
    return { authorization: `Bearer ${this.options.apiKey}`, ...extra };
  }

  /** Sends everything queued now; resolves with {sent, pending}. Rejects when a send fails. */
  flush() {
    if (!this.sending) {
      this.sending = this.drain().finally(() => (this.sending = null));
    }
    return this.sending;
  }

  async drain() {
    await this.ready;
    let sent = 0;
    let size = this.options.batchSize;
    for (;;) {
      const batch = await this.queue.peek(size);
      if (!batch.length) break;
      let r;
      try {
        r = await fetch(`${this.baseUrl}/v1/events?partial=1`, {
          method: 'POST',
          headers: this.headers({ 'content-type': 'application/json' }),
          body: JSON.stringify({ events: batch.map((b) => b.event) }),
          keepalive: batch.length <= 20,
        });
      } catch (e) {
        this.backoff(null);
        throw e;
      }
      if (r.status === 202 || r.status === 400) {
        // Accepted, or refused for good (invalid events): either way they leave the queue.
        const body = await r.json().catch(() => ({}));
        const bad = Array.isArray(body.events) ? body.events.length : r.status === 400 ? batch.length : 0;
        await this.queue.remove(batch.map((b) => b.k));
        this.stats.sent += batch.length - bad;
        this.stats.rejected += bad;
        sent += batch.length - bad;
        this.backoffMs = 0;
        continue;
      }
      if (r.status === 413 && size > 1) {
        size = Math.max(1, size >> 1);
        continue;
      }
      this.backoff(r.headers.get('retry-after'));
      const err = new Error(`BrightMatter: events not sent (HTTP ${r.status})`);
      err.status = r.status;
      throw err;
    }
    return { sent, pending: await this.queue.size() };
  }

  backoff(retryAfter) {
    const o = this.options;
    this.backoffMs = Math.min(o.maxBackoffMs, this.backoffMs ? this.backoffMs * 2 : o.minBackoffMs);
    this.stats.retries++;
    let wait = this.backoffMs * (0.5 + Math.random() / 2);
    const ra = Number(retryAfter);
    if (retryAfter && ra > 0) wait = Math.max(wait, ra * 1000);
    this.timer && clearTimeout(this.timer);
    this.timer = null;
    this.schedule(wait);
  }

  /** Queued events, events dropped by the size cap, and where the queue lives. */
  async queueInfo() {
    await this.ready;
    return { size: await this.queue.size(), dropped: await this.queue.dropped(), storage: this.queue.kind, ...this.stats };
  }

  /** GET on the query API with ETag revalidation; resolves {status, body, etag}. */
  async get(path, etag) {
    const r = await fetch(this.baseUrl + path, { headers: this.headers(etag ? { 'if-none-match': etag } : {}) });
    if (r.status === 304) return { status: 304, etag };
    const body = r.status === 200 ? await r.json() : null;
    return { status: r.status, body, etag: r.headers.get('etag') };
  }

  destroy() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (typeof removeEventListener === 'function') removeEventListener('online', this.onOnline);
    this.live?.close();
  }
}
