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
.bm-widget li.bm-t-row{grid-template-columns:2.5em 1fr auto 4em}
.bm-widget .bm-prize{text-align:right;color:var(--_accent);font-variant-numeric:tabular-nums}
.bm-widget .bm-info,.bm-widget .bm-pool{margin-bottom:6px}
.bm-widget .bm-clock[data-status=running]{color:var(--_accent);font-weight:600}
.bm-widget .bm-me{font-weight:600;color:var(--_fg)}
.bm-widget .bm-desc{margin:0 0 8px;color:var(--_muted)}
.bm-widget a{color:var(--_accent)}
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
    const chans = this.channels();
    if (live && chans.length) {
      for (const ch of chans) this.unsubs.push(live.subscribe(ch, (m) => this.onLive(m)));
      const show = (s) => {
        this.badge.textContent = s === 'open' ? 'live' : s === 'connecting' ? 'connecting' : 'polling';
        this.badge.dataset.live = s;
      };
      show(live.state);
      this.unsubs.push(live.onState(show));
    } else this.badge.textContent = 'polling';
    this.refresh();
    // Polled while the socket is down, and always for a widget without a live channel.
    const poll = setInterval(() => {
      if (!live || !chans.length || live.state !== 'open') this.refresh();
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

// A tournament: countdown or status, seats, prize per position, standings with
// the player's own row, and the final table with prizes once paid. Live over
// campaign:<id> (standings changed, joined, started, ended) and user:<id>
// (the player's prize); polled with ETags while the socket is down.
const STATUS = { scheduled: 'Starts in', running: 'Ends in', ended: 'Ended: results being counted', paid: 'Final results', cancelled: 'Cancelled' };

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  const two = (n) => String(n).padStart(2, '0');
  return d ? `${d}d ${hh}h ${two(mm)}m` : hh ? `${hh}h ${two(mm)}m ${two(ss)}s` : `${mm}m ${two(ss)}s`;
}

class Tournament extends Widget {
  defaultTitle() {
    return 'Tournament';
  }

  path() {
    const q = new URLSearchParams({ limit: String(this.options.limit) });
    return `/v1/tournaments/${encodeURIComponent(this.id)}?${q}`;
  }

  mePath() {
    return this.userId == null ? null : `/v1/tournaments/${encodeURIComponent(this.id)}/users/${encodeURIComponent(this.userId)}`;
  }

  channels() {
    return [`campaign:${this.id}`, ...(this.userId == null ? [] : [`user:${this.userId}`])];
  }

  start() {
    super.start();
    // The countdown ticks locally; at the end (and after the grace) the table is fetched again.
    const tick = setInterval(() => this.tick(), 1000);
    this.unsubs.push(() => clearInterval(tick));
  }

  onLive(m) {
    const p = m.payload;
    if (m.channel?.startsWith('user:') && p?.campaignId !== this.id && m.type !== 'resync') return;
    this.refresh();
  }

  async refresh() {
    await super.refresh();
    const p = this.mePath();
    if (!p) return;
    try {
      const r = await this.client.get(p, this.meEtag);
      if (r.status === 200 || r.status === 404) {
        this.meEtag = r.etag;
        this.me = r.status === 200 ? r.body : null;
        this.render();
      }
    } catch {
      // Offline: the last known row stays.
    }
  }

  money(minor) {
    const dec = Number(this.data?.prizePool?.decimals) || 0;
    return typeof minor === 'number' ? fmt(minor / 10 ** dec) : '–';
  }

  statusText() {
    const d = this.data;
    if (!d) return '';
    const label = STATUS[d.status] || String(d.status);
    const now = Date.now();
    if (d.status === 'scheduled') return `${label} ${duration(Date.parse(d.startDate) - now)}`;
    if (d.status === 'running') return `${label} ${duration(Date.parse(d.endDate) - now)}`;
    return label;
  }

  tick() {
    const d = this.data;
    if (!d || !this.clock) return;
    this.clock.textContent = this.statusText();
    if (d.final) return;
    const now = Date.now();
    const edge = d.status === 'scheduled' ? Date.parse(d.startDate) : Date.parse(d.endDate) + 1000 * (Number(d.graceSeconds) || 0);
    // Past a boundary the server has news: ask every few seconds until it says so.
    if (now >= edge && now - (this.lastEdgeFetch || 0) >= 3000) {
      this.lastEdgeFetch = now;
      this.refresh();
    }
  }

  render() {
    const d = this.data;
    if (d?.name && !this.options.title) this.titleText.textContent = d.name;
    if (!d) {
      this.body.replaceChildren(h('div', { class: 'bm-status', text: 'No such tournament.' }));
      return;
    }
    const fin = d.final === true;
    const rows = (fin ? d.results : d.standings) || [];
    const seats = d.seats || {};
    this.clock = h('span', { class: 'bm-clock', 'data-status': d.status, text: this.statusText() });
    const info = h(
      'div',
      { class: 'bm-label bm-info' },
      this.clock,
      h('span', { class: 'bm-seats', text: seats.max != null ? `Seats ${fmt(seats.taken)} / ${fmt(seats.max)}` : `${fmt(seats.taken ?? 0)} players` }),
    );
    const pool = h('div', { class: 'bm-label bm-pool' }, h('span', { text: 'Prize pool' }), h('span', { text: this.money(d.prizePool?.totalMinor) }));
    const label = `${this.titleText.textContent}: ${fin ? 'final results' : 'standings'}, ${rows.length} players`;
    const list = h('ol', { tabindex: '0', class: fin ? 'bm-results' : 'bm-standings', 'aria-label': label });
    let mine = false;
    for (const e of rows) {
      const me = this.userId != null && e.userId === this.userId;
      mine ||= me;
      list.appendChild(
        h(
          'li',
          { class: 'bm-t-row', 'aria-current': me ? 'true' : null, 'data-user': e.userId },
          h('span', { class: 'bm-rank', text: `#${e.rank}` }),
          h('span', { class: 'bm-name', text: e.userId, title: e.userId }),
          h('span', { class: 'bm-score', text: fmt(e.score) }),
          h('span', { class: 'bm-prize', text: e.prize ? this.money(e.prize) : '' }),
        ),
      );
    }
    if (!rows.length) list.appendChild(h('li', { text: d.status === 'scheduled' ? 'Not started yet.' : 'No scores yet.' }));
    const parts = [info, pool, list];
    // The player's own row: in the table (highlighted) or below it when further down.
    const m = this.me;
    if (this.userId != null) {
      const own = m
        ? `You: #${m.rank} · ${fmt(m.score)} points${m.prize ? ` · ${fin ? 'won' : 'prize'} ${this.money(m.prize)}` : ''}`
        : 'You have not played in this tournament yet.';
      parts.push(h('div', { class: 'bm-status bm-me', 'data-rank': m ? String(m.rank) : null, 'aria-current': mine ? null : m ? 'true' : null, text: own }));
    }
    this.body.replaceChildren(...parts);
  }
}

// A community: its name, description and member count (GET
// /v1/communities/{slug}), the join button (POST .../join with the game key
// and the player's id, or with the player's own ID token), the result, the
// player's membership once the engine applied the join, and the referral link
// GET /c/{slug}.
class Community extends Widget {
  defaultTitle() {
    return this.options.communityName || 'Community';
  }

  path() {
    const q = this.userId != null ? `?${new URLSearchParams({ userId: this.userId })}` : '';
    return `/v1/communities/${encodeURIComponent(this.id)}${q}`;
  }

  async refresh() {
    await super.refresh();
    if (!this.data) this.render();
    // The answer to the player's join stays until the next join (a reload clears it).
    if (this.note && this.status.textContent === '') this.status.textContent = this.note;
  }

  async join() {
    if (this.userId == null && !this.options.token) {
      this.status.textContent = 'Sign in first: no player to join for.';
      return;
    }
    this.pending = true;
    this.note = null;
    this.render();
    const body = this.options.token ? {} : { userId: this.userId };
    if (this.options.metadata) body.metadata = this.options.metadata;
    const ref = this.options.ref ?? (typeof location !== 'undefined' ? new URLSearchParams(location.search).get('ref') : null);
    if (ref) body.ref = ref;
    if (this.options.inviteCode) body.inviteCode = this.options.inviteCode;
    const headers = this.options.token
      ? { authorization: `Bearer ${this.options.token}`, 'content-type': 'application/json' }
      : this.client.headers({ 'content-type': 'application/json' });
    let r;
    try {
      r = await fetch(`${this.client.baseUrl}/v1/communities/${encodeURIComponent(this.id)}/join`, { method: 'POST', headers, body: JSON.stringify(body) });
    } catch {
      this.pending = false;
      this.status.textContent = 'Offline: not joined yet, try again.';
      this.render();
      return;
    }
    const answer = await r.json().catch(() => ({}));
    this.pending = false;
    if (r.status === 202) {
      this.sent = true;
      this.note = `Welcome to ${this.name()}!`;
      this.status.textContent = this.note;
      // The engine applies the join in its next batch: follow it until the membership shows.
      for (let i = 0; i < 60 && this.data?.membership !== 'active' && this.unsubs.length; i++) {
        await new Promise((res) => setTimeout(res, 1000));
        await this.refresh();
      }
    } else if (r.status === 404) {
      this.status.textContent = 'This community does not exist or is closed.';
    } else {
      this.status.textContent = `Not joined: ${typeof answer.message === 'string' ? answer.message : `HTTP ${r.status}`}`;
    }
    this.render();
  }

  name() {
    return this.data?.name || this.defaultTitle();
  }

  render() {
    const d = this.data;
    const name = this.name();
    if (!this.options.title) this.titleText.textContent = name;
    const m = d?.membership;
    const state = m === 'active' ? 'member' : m === 'pending' ? 'pending' : m === 'banned' ? 'banned' : this.pending ? 'joining' : this.sent ? 'sent' : 'join';
    const label = { member: 'Member ✓', pending: 'Waiting for approval', banned: 'Not allowed to join', joining: 'Joining…', sent: 'Joined ✓', join: `Join ${name}` }[state];
    this.button = h('button', { type: 'button', class: 'bm-join', 'data-state': state, 'aria-pressed': state === 'join' ? 'false' : 'true', disabled: state === 'join' ? null : true, onclick: () => this.join() }, label);
    const parts = [];
    if (d?.description) parts.push(h('p', { class: 'bm-desc', text: d.description }));
    if (typeof d?.members === 'number') parts.push(h('div', { class: 'bm-label' }, h('span', { text: 'Members' }), h('span', { class: 'bm-members', text: fmt(d.members) })));
    if (!d) parts.push(h('div', { class: 'bm-status', text: this.loading ? 'Loading…' : 'This community does not exist or is closed.' }));
    if (d) parts.push(h('div', { class: 'bm-row' }, this.button));
    const link = `${this.client.baseUrl}/c/${encodeURIComponent(this.id)}${this.userId != null ? `?${new URLSearchParams({ ref: this.userId })}` : ''}`;
    if (d) parts.push(h('div', { class: 'bm-label' }, h('span', { text: 'Invite friends' }), h('a', { class: 'bm-invite', href: link, rel: 'noopener', text: 'referral link' })));
    this.body.replaceChildren(...parts);
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
