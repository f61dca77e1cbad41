// Embeddable widgets: leaderboard, tournament, quest, battle pass, community.
// Built with createElement and textContent only: a player name such as
// "<img src=x onerror=alert(1)>" is shown as those characters and never parsed
// as HTML. Themable through CSS custom properties (--bm-*), labelled for
// screen readers, usable from the keyboard. They update over the WebSocket and
// poll with If-None-Match while it is down.

const CSS = `
.bm-widget{--_bg:var(--bm-bg,#fff);--_fg:var(--bm-fg,#1b1e28);--_muted:var(--bm-muted,#5d6475);
--_accent:var(--bm-accent,#3a5bd9);--_line:var(--bm-line,#e2e5ee);--_radius:var(--bm-radius,10px);
font:var(--bm-font,14px/1.4 system-ui,sans-serif);background:var(--_bg);color:var(--_fg);
border:1px solid var(--_line);border-radius:var(--_radius);padding:12px 14px;max-width:var(--bm-width,360px)}
.bm-widget h2{font-size:1.05em;margin:0 0 8px;display:flex;justify-content:space-between;gap:8px}
.bm-widget .bm-badge{font-size:.75em;font-weight:600;color:var(--_muted)}
.bm-widget .bm-badge[data-live=open]{color:var(--_accent)}
.bm-widget ol{list-style:none;margin:0;padding:0}
.bm-widget li{display:grid;grid-template-columns:2.5em 1fr auto;gap:6px;padding:4px 2px;border-top:1px solid var(--_line)}
.bm-widget li[aria-current=true]{font-weight:700;color:var(--_accent)}
.bm-widget .bm-rank{color:var(--_muted);font-variant-numeric:tabular-nums}
.bm-widget .bm-name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.bm-widget .bm-score{font-variant-numeric:tabular-nums}
.bm-widget progress{width:100%;accent-color:var(--_accent);height:10px}
.bm-widget .bm-row{margin:6px 0}
.bm-widget .bm-label{display:flex;justify-content:space-between;color:var(--_muted);font-size:.9em}
.bm-widget .bm-status{color:var(--_muted);font-size:.85em;margin-top:6px}
.bm-widget button{font:inherit;background:var(--_accent);color:var(--bm-on-accent,#fff);border:0;
border-radius:calc(var(--_radius) / 2);padding:4px 12px;cursor:pointer}
.bm-widget button:focus-visible,.bm-widget ol:focus-visible{outline:2px solid var(--_accent);outline-offset:2px}
.bm-widget button:disabled{opacity:.5;cursor:default}
`;

function injectCss() {
  if (typeof document === 'undefined' || document.getElementById('bm-widget-css')) return;
  const s = document.createElement('style');
  s.id = 'bm-widget-css';
  s.textContent = CSS;
  document.head.appendChild(s);
}

/** h('li', {class: 'x', 'aria-label': 'y'}, child, 'text', ...): DOM only, text via textContent. */
export function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'text') e.textContent = String(v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c == null || c === false) continue;
    e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  return e;
}

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString(undefined, { maximumFractionDigits: 2 }) : '–');

class Widget {
  constructor(client, kind, id, element, options) {
    if (!element || typeof element.appendChild !== 'function') throw new TypeError('mount: element must be a DOM element');
    injectCss();
    this.client = client;
    this.kind = kind;
    this.id = String(id);
    this.options = { title: null, limit: 10, ...options };
    this.userId = this.options.userId ?? client.userId;
    this.etag = null;
    this.data = null;
    this.unsubs = [];
    this.root = h('section', { class: `bm-widget bm-${kind}`, role: 'region', 'aria-busy': 'true' });
    this.heading = h('h2', { id: `bm-${kind}-${Math.random().toString(36).slice(2)}` });
    this.titleText = h('span', { text: this.options.title || this.defaultTitle() });
    this.badge = h('span', { class: 'bm-badge', text: 'connecting' });
    this.heading.append(this.titleText, this.badge);
    this.root.setAttribute('aria-labelledby', this.heading.id);
    this.body = h('div');
    this.status = h('div', { class: 'bm-status', role: 'status', 'aria-live': 'polite' });
    this.root.append(this.heading, this.body, this.status);
    element.replaceChildren(this.root);
    this.start();
  }

  defaultTitle() {
    return this.kind;
  }

  path() {
    return null;
  }

  channels() {
    return [];
  }

  start() {
    const live = this.client.live;
    if (live) {
      for (const ch of this.channels()) this.unsubs.push(live.subscribe(ch, (m) => this.onLive(m)));
      const show = (s) => {
        this.badge.textContent = s === 'open' ? 'live' : s === 'connecting' ? 'connecting' : 'polling';
        this.badge.dataset.live = s;
      };
      show(live.state);
      this.unsubs.push(live.onState(show));
    } else this.badge.textContent = 'polling';
    this.refresh();
    const poll = setInterval(() => {
      if (!live || live.state !== 'open') this.refresh();
    }, this.options.pollMs || this.client.options.pollMs);
    this.unsubs.push(() => clearInterval(poll));
  }

  /** Fetches again (304 when nothing changed: nothing is redrawn). */
  async refresh() {
    const p = this.path();
    if (!p) return;
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      const r = await this.client.get(p, this.etag);
      if (r.status === 200) {
        this.etag = r.etag;
        this.data = r.body;
        this.render();
        this.status.textContent = '';
      } else if (r.status === 404) {
        // Nothing stored for this player yet: keep what live updates have shown.
        if (!this.liveData) {
          this.data = null;
          this.render();
        }
      } else if (r.status !== 304) this.status.textContent = `Could not load (HTTP ${r.status}).`;
    } catch {
      this.status.textContent = 'Offline: showing the last known data.';
    } finally {
      this.loading = false;
      this.root.setAttribute('aria-busy', 'false');
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    }
  }

  onLive(m) {
    this.refresh();
  }

  destroy() {
    for (const u of this.unsubs) u();
    this.unsubs = [];
    this.root.remove();
  }
}

class Leaderboard extends Widget {
  defaultTitle() {
    return 'Leaderboard';
  }

  path() {
    const q = new URLSearchParams({ limit: String(this.options.limit) });
    return `/v1/leaderboards/${encodeURIComponent(this.id)}?${q}`;
  }

  channels() {
    return [`campaign:${this.id}`];
  }

  render() {
    const d = this.data;
    if (d?.name && !this.options.title) this.titleText.textContent = d.name;
    const entries = d?.entries || [];
    const list = h('ol', { tabindex: '0', 'aria-label': `${this.titleText.textContent}: ${entries.length} players` });
    for (const e of entries) {
      const me = this.userId != null && e.userId === this.userId;
      list.appendChild(
        h(
          'li',
          { 'aria-current': me ? 'true' : null, 'data-user': e.userId },
          h('span', { class: 'bm-rank', text: `#${e.rank}` }),
          h('span', { class: 'bm-name', text: e.userId, title: e.userId }),
          h('span', { class: 'bm-score', text: fmt(e.score) }),
        ),
      );
    }
    if (!entries.length) list.appendChild(h('li', { text: 'No scores yet.' }));
    this.body.replaceChildren(list);
  }
}

class Tournament extends Leaderboard {
  defaultTitle() {
    return 'Tournament';
  }
}

// A community's standings: a leaderboard campaign gated to the community.
class Community extends Leaderboard {
  defaultTitle() {
    return this.options.communityName ? `${this.options.communityName} community` : 'Community';
  }

  render() {
    super.render();
    if (this.options.communityName) this.titleText.textContent = this.defaultTitle();
  }
}

class Quest extends Widget {
  defaultTitle() {
    return 'Quest';
  }

  path() {
    return this.userId == null ? null : `/v1/quests/${encodeURIComponent(this.id)}/users/${encodeURIComponent(this.userId)}`;
  }

  channels() {
    return this.userId == null ? [] : [`user:${this.userId}`];
  }

  onLive(m) {
    const p = m.payload;
    if (m.gap || m.type === 'resync') return this.refresh();
    if (!p || p.questId !== this.id) return;
    // The live update carries the progress itself: redraw without a round trip.
    this.data = { ...(this.data || {}), ...p, status: p.completed ? 'completed' : 'in_progress' };
    this.liveData = true;
    this.render();
  }

  render() {
    const d = this.data;
    if (d?.name && !this.options.title) this.titleText.textContent = d.name;
    const conds = d?.conditions || [];
    const rows = conds.map((c, i) => {
      const label = c.eventType ? `${c.eventType}${c.field ? ' · ' + c.field : ''}` : `Step ${i + 1}`;
      const cur = Math.min(Number(c.current) || 0, Number(c.target) || 0);
      return h(
        'div',
        { class: 'bm-row' },
        h('div', { class: 'bm-label' }, h('span', { text: label }), h('span', { text: `${fmt(c.current)} / ${fmt(c.target)}${c.met ? ' ✓' : ''}` })),
        h('progress', { max: String(c.target || 1), value: String(cur), 'aria-label': `${label}: ${fmt(c.current)} of ${fmt(c.target)}` }),
      );
    });
    const done = d && (d.status === 'completed' || d.completed === true);
    this.body.replaceChildren(...rows, h('div', { class: 'bm-status', text: !d ? 'Not started yet.' : done ? 'Completed!' : `Completions: ${d.completions ?? 0}` }));
  }
}

class BattlePass extends Widget {
  defaultTitle() {
    return 'Battle pass';
  }

  path() {
    return this.userId == null ? null : `/v1/battlepasses/${encodeURIComponent(this.id)}/users/${encodeURIComponent(this.userId)}`;
  }

  channels() {
    return this.userId == null ? [] : [`user:${this.userId}`];
  }

  onLive(m) {
    const p = m.payload;
    if (m.gap || m.type === 'resync') return this.refresh();
    if (!p || p.campaignId !== this.id) return;
    this.data = { ...(this.data || {}), ...p };
    this.liveData = true;
    this.render();
    if (p.type === 'tier_reached' || p.type === 'purchased') this.refresh();
  }

  async claim() {
    this.claimButton.disabled = true;
    try {
      const r = await fetch(`${this.client.baseUrl}/v1/battlepasses/${encodeURIComponent(this.id)}/users/${encodeURIComponent(this.userId)}/claim`, {
        method: 'POST',
        headers: this.client.headers({ 'content-type': 'application/json' }),
        body: '{}',
      });
      this.status.textContent = r.status === 202 ? 'Claim sent.' : `Claim refused (HTTP ${r.status}).`;
    } catch {
      this.status.textContent = 'Offline: claim not sent.';
    }
    this.refresh();
  }

  render() {
    const d = this.data;
    if (d?.name && !this.options.title) this.titleText.textContent = d.name;
    const xp = Number(d?.xp) || 0;
    const next = Number(d?.nextTierXp) || 0;
    const tier = d?.tier ?? 0;
    const claimable = (d?.claimableFree?.length || 0) + (d?.claimablePremium?.length || 0) + (typeof d?.claimable === 'number' ? d.claimable : 0);
    this.claimButton = h('button', { type: 'button', disabled: claimable ? null : true, onclick: () => this.claim() }, claimable ? `Claim ${claimable} reward${claimable > 1 ? 's' : ''}` : 'Nothing to claim');
    this.body.replaceChildren(
      h('div', { class: 'bm-label' }, h('span', { text: `Tier ${tier}${d?.maxTier ? ' of ' + d.maxTier : ''}` }), h('span', { text: d?.purchased ? 'Premium' : 'Free' })),
      h('progress', { max: String(next || 1), value: String(next ? Math.min(xp, next) : 1), 'aria-label': next ? `${fmt(xp)} of ${fmt(next)} XP to the next tier` : `${fmt(xp)} XP, last tier reached` }),
      h('div', { class: 'bm-label' }, h('span', { text: `${fmt(xp)} XP` }), h('span', { text: next ? `next tier at ${fmt(next)}` : 'max tier' })),
      h('div', { class: 'bm-row' }, this.claimButton),
    );
  }
}

const KINDS = { leaderboard: Leaderboard, tournament: Tournament, quest: Quest, battlepass: BattlePass, community: Community };

export function mountWidget(client, type, id, element, options = {}) {
  const K = KINDS[type];
  if (!K) throw new TypeError(`mount: unknown widget "${type}" (one of ${Object.keys(KINDS).join(', ')})`);
  return new K(client, type, id, element, options);
}
