// BrightMatter web SDK. Script tag: window.BrightMatter; module: import * as BrightMatter.
//   BrightMatter.init({apiKey, gameId, userId, baseUrl});
//   BrightMatter.track('MATCH_END', {score: 10});
//   BrightMatter.mount('leaderboard', campaignId, element);
import { Client, uuid } from './client.js';
import { mountWidget } from './widgets.js';

let current = null;

function need() {
  if (!current) throw new Error('BrightMatter.init({apiKey, gameId, userId, baseUrl}) first');
  return current;
}

/** Starts the SDK (once per page; a second call replaces the first client). */
export function init(options) {
  current?.destroy();
  current = new Client(options);
  return current;
}

/** Queues an event (persistent, sent in batches); resolves with its eventId. */
export const track = (eventType, data, userId) => need().track(eventType, data, userId);
/** Sends what is queued now; resolves {sent, pending}. */
export const flush = () => need().flush();
/** Sets the player events and widgets are for. */
export const identify = (userId) => {
  need().userId = userId == null ? null : String(userId);
};
/** {size, dropped, storage, sent, rejected, retries} */
export const queueInfo = () => need().queueInfo();
/** Mounts a widget: 'leaderboard' | 'tournament' | 'quest' | 'battlepass' | 'community'. */
export const mount = (type, id, element, options) => mountWidget(need(), type, id, element, options);
/** Calls listener for every update on a channel (campaign:<id>, user:<id>); returns unsubscribe. */
export const subscribe = (channel, listener) => need().live.subscribe(channel, listener);
/** 'idle' | 'connecting' | 'open' | 'closed' */
export const liveState = () => current?.live?.state ?? 'idle';

export { Client, uuid };
export const version = '0.1.0';
