// The persistent event queue: IndexedDB when the browser has it, else
// localStorage, else memory (and it says so). Events keep their order and
// their eventId across reloads; the oldest are dropped (and counted) past the
// size cap, so a game offline for days cannot fill the disk.

const DB_VERSION = 1;

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = tx.onerror = () => reject(tx.error);
  });
}

class IdbQueue {
  constructor(db, cap) {
    this.db = db;
    this.cap = cap;
    this.kind = 'indexeddb';
  }

  static async open(name, cap) {
    const r = indexedDB.open(name, DB_VERSION);
    r.onupgradeneeded = () => {
      const db = r.result;
      if (!db.objectStoreNames.contains('events')) db.createObjectStore('events', { keyPath: 'k', autoIncrement: true });
      if (!db.objectStoreNames.contains('meta')) db.createObjectStore('meta');
    };
    return new IdbQueue(await req(r), cap);
  }

  async add(event) {
    const tx = this.db.transaction(['events', 'meta'], 'readwrite');
    const events = tx.objectStore('events');
    events.add({ event });
    const n = await req(events.count());
    let over = n - this.cap;
    if (over > 0) {
      const meta = tx.objectStore('meta');
      const dropped = (await req(meta.get('dropped'))) || 0;
      meta.put(dropped + over, 'dropped');
      const cur = events.openCursor();
      await new Promise((resolve, reject) => {
        cur.onsuccess = () => {
          const c = cur.result;
          if (c && over-- > 0) {
            c.delete();
            c.continue();
          } else resolve();
        };
        cur.onerror = () => reject(cur.error);
      });
    }
    await done(tx);
  }

  async peek(n) {
    const tx = this.db.transaction('events', 'readonly');
    const out = [];
    const cur = tx.objectStore('events').openCursor();
    await new Promise((resolve, reject) => {
      cur.onsuccess = () => {
        const c = cur.result;
        if (c && out.length < n) {
          out.push({ k: c.key, event: c.value.event });
          c.continue();
        } else resolve();
      };
      cur.onerror = () => reject(cur.error);
    });
    return out;
  }

  async remove(keys) {
    const tx = this.db.transaction('events', 'readwrite');
    const s = tx.objectStore('events');
    for (const k of keys) s.delete(k);
    await done(tx);
  }

  async size() {
    return req(this.db.transaction('events', 'readonly').objectStore('events').count());
  }

  async dropped() {
    return (await req(this.db.transaction('meta', 'readonly').objectStore('meta').get('dropped'))) || 0;
  }
}

// localStorage (or memory when storage is null): one JSON document.
class StorageQueue {
  constructor(storage, name, cap) {
    this.storage = storage;
    this.name = name;
    this.cap = cap;
    this.kind = storage ? 'localstorage' : 'memory';
    this.mem = { next: 1, dropped: 0, items: [] };
  }

  load() {
    if (!this.storage) return this.mem;
    try {
      return JSON.parse(this.storage.getItem(this.name)) || { next: 1, dropped: 0, items: [] };
    } catch {
      return { next: 1, dropped: 0, items: [] };
    }
  }

  save(doc) {
    if (!this.storage) {
      this.mem = doc;
      return;
    }
    // A full storage drops the oldest half rather than losing the newest event.
    for (;;) {
      try {
        this.storage.setItem(this.name, JSON.stringify(doc));
        return;
      } catch (e) {
        if (!doc.items.length) throw e;
        const n = Math.ceil(doc.items.length / 2);
        doc.items.splice(0, n);
        doc.dropped += n;
      }
    }
  }

  async add(event) {
    const doc = this.load();
    doc.items.push({ k: doc.next++, event });
    const over = doc.items.length - this.cap;
    if (over > 0) {
      doc.items.splice(0, over);
      doc.dropped += over;
    }
    this.save(doc);
  }

  async peek(n) {
    return this.load().items.slice(0, n);
  }

  async remove(keys) {
    const gone = new Set(keys);
    const doc = this.load();
    doc.items = doc.items.filter((i) => !gone.has(i.k));
    this.save(doc);
  }

  async size() {
    return this.load().items.length;
  }

  async dropped() {
    return this.load().dropped;
  }
}

/** Opens the queue named `name` holding at most `cap` events. */
export async function openQueue(name, cap, prefer = 'indexeddb') {
  if (prefer === 'indexeddb' && typeof indexedDB !== 'undefined') {
    try {
      return await IdbQueue.open(name, cap);
    } catch {
      // private modes may refuse IndexedDB: fall through
    }
  }
  let storage = null;
  try {
    storage = typeof localStorage !== 'undefined' ? localStorage : null;
    storage?.setItem(name + ':probe', '1');
    storage?.removeItem(name + ':probe');
  } catch {
    storage = null;
  }
  return new StorageQueue(storage, name, cap);
}
