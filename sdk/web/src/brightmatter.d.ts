// Type declarations of the BrightMatter web SDK (dist/brightmatter.mjs, and
// window.BrightMatter of dist/brightmatter.js).

export interface InitOptions {
  /** A game API key (bmk_...): sent as a Bearer token and as the WebSocket subprotocol. */
  apiKey: string;
  /** The game's identifier, as events carry it. */
  gameId: string;
  /** The player events and widgets are for (track() may name another). */
  userId?: string | null;
  /** The gateway, e.g. "https://api.example.com". */
  baseUrl: string;
  /** Events per POST (default 50). */
  batchSize?: number;
  /** Delay before queued events are sent (default 1000 ms). */
  flushIntervalMs?: number;
  /** Events kept while offline; the oldest are dropped and counted beyond (default 10000). */
  maxQueue?: number;
  /** Backoff bounds after a failed send (defaults 500 ms and 60 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** "indexeddb" (default, falls back to localStorage) or "localstorage". */
  storage?: 'indexeddb' | 'localstorage';
  /** Live updates over WebSocket (default true); widgets poll when false or disconnected. */
  live?: boolean;
  /** Widget polling period while not live (default 5000 ms). */
  pollMs?: number;
}

export interface QueueInfo {
  size: number;
  dropped: number;
  storage: 'indexeddb' | 'localstorage' | 'memory';
  sent: number;
  rejected: number;
  retries: number;
}

export type UpdateType =
  | 'leaderboard_update'
  | 'tournament_update'
  | 'quest_progress'
  | 'quest_completed'
  | 'battlepass_update'
  | 'community_update'
  | 'reward_notification';

export interface LiveUpdate<P = any> {
  type: UpdateType | 'resync';
  channel: string;
  seq?: number;
  /** Broker timestamp of the update, ms since the epoch. */
  ts?: number;
  payload?: P;
  /** True when updates were missed before this one: refetch. */
  gap?: boolean;
}

export type WidgetType = 'leaderboard' | 'tournament' | 'quest' | 'battlepass' | 'community';

export interface WidgetOptions {
  title?: string;
  /** Rows of a board (default 10). */
  limit?: number;
  /** The player highlighted or shown (default: init's userId). */
  userId?: string;
  /** Community widget: the name shown until the API answers (the id is its slug). */
  communityName?: string;
  /** Community widget: a player's own ID token for the join (default: the game key and userId). */
  token?: string;
  /** Community widget: member metadata the community asks for (e.g. {address}). */
  metadata?: Record<string, unknown>;
  /** Community widget: the referrer of the join (default: the page's ?ref=). */
  ref?: string;
  /** Community widget: an invite code for a closed community. */
  inviteCode?: string;
  pollMs?: number;
}

export interface Widget {
  refresh(): Promise<void>;
  destroy(): void;
  readonly root: HTMLElement;
}

export declare class Client {
  constructor(options: InitOptions);
  userId: string | null;
  track(eventType: string, data?: Record<string, unknown>, userId?: string): Promise<string>;
  flush(): Promise<{ sent: number; pending: number }>;
  queueInfo(): Promise<QueueInfo>;
  destroy(): void;
}

export declare function init(options: InitOptions): Client;
export declare function track(eventType: string, data?: Record<string, unknown>, userId?: string): Promise<string>;
export declare function flush(): Promise<{ sent: number; pending: number }>;
export declare function identify(userId: string | null): void;
export declare function queueInfo(): Promise<QueueInfo>;
export declare function mount(type: WidgetType, id: string, element: HTMLElement, options?: WidgetOptions): Widget;
export declare function subscribe(channel: string, listener: (update: LiveUpdate) => void): () => void;
export declare function liveState(): 'idle' | 'connecting' | 'open' | 'closed';
export declare function uuid(): string;
export declare const version: string;
