// A small hand-written fake browser for running the tracker in node:vm.
//
// `page(options)` loads the tracker into a fresh context (one "page load"); pass the same
// `store` to the next page() to simulate the next page of the same visitor (cookies and
// localStorage persist, memory does not). Time and timers are fake: `p.advance(ms)`.
import vm from 'node:vm';
import { webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const SOURCE = readFileSync(new URL('../../rbtracking.js', import.meta.url), 'utf8');
export const MINIFIED = readFileSync(new URL('../../RBTracking.min.js', import.meta.url), 'utf8');
export const ENDPOINT = 'http://127.0.0.1:8000';
export const HOST = 'aSLhOBjZV5wD7YEpppb3';
export const T0 = 1_700_000_000_000;

export function store() {
  return { ls: new Map(), cookies: new Map(), cookieWrites: [], now: T0 };
}

// Objects made inside the vm have another Object.prototype; compare their JSON.
export const plain = (x) => (x === undefined ? x : JSON.parse(JSON.stringify(x)));

export const tick = () => new Promise((r) => setImmediate(r));
export async function settle(n = 5) {
  for (let i = 0; i < n; i++) await tick();
}

function emitter() {
  const listeners = {};
  return {
    addEventListener(type, fn) {
      (listeners[type] ||= []).push(fn);
    },
    removeEventListener() {},
    dispatch(type, event = {}) {
      for (const fn of listeners[type] || []) fn({ type, ...event });
    },
    listeners,
  };
}

// reply(request) -> {status, json} | Promise of it | 'hang'; or throws / rejects (network error)
export function page(opts = {}) {
  const s = opts.store || store();
  if (opts.advance) s.now += opts.advance;
  const config = { h: HOST, m: 0, e: ENDPOINT, d: 1, ...opts.config };
  const reply = opts.reply || (() => ({ status: 204 }));
  const fetches = [];
  const beacons = [];
  const navigations = [];
  const timers = [];
  let url = new URL(opts.url || 'https://site.example/');

  const clock = { get now() { return s.now; } };
  const win = emitter();
  const doc = emitter();
  Object.assign(doc, {
    title: opts.title ?? 'Home',
    referrer: opts.referrer ?? '',
    readyState: opts.readyState || 'complete',
    visibilityState: 'visible',
  });
  Object.defineProperty(doc, 'cookie', {
    get() {
      if (opts.cookieThrows) throw new Error('SecurityError');
      return [...s.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    },
    set(line) {
      if (opts.cookieThrows) throw new Error('SecurityError');
      s.cookieWrites.push(line);
      const [pair, ...attrs] = line.split(';');
      const i = pair.indexOf('=');
      const k = pair.slice(0, i).trim();
      const maxAge = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('max-age='));
      if (maxAge && Number(maxAge.split('=')[1]) <= 0) s.cookies.delete(k);
      else s.cookies.set(k, pair.slice(i + 1));
    },
  });

  const location = {
    get href() { return url.href; },
    set href(v) { navigations.push(new URL(v, url).href); },
    assign(v) { navigations.push(new URL(v, url).href); },
    get pathname() { return url.pathname; },
    get search() { return url.search; },
    get hash() { return url.hash; },
    get protocol() { return url.protocol; },
    get host() { return url.host; },
    get origin() { return url.origin; },
  };
  const history = {
    state: null,
    calls: [],
    pushState(state, _title, u) {
      history.calls.push(['push', u]);
      history.state = state;
      if (u != null) url = new URL(u, url);
      return 'push-result';
    },
    replaceState(state, _title, u) {
      history.calls.push(['replace', u]);
      history.state = state;
      if (u != null) url = new URL(u, url);
    },
  };
  const localStorage = {
    getItem: (k) => (s.ls.has(k) ? s.ls.get(k) : null),
    setItem: (k, v) => {
      if (opts.quota) throw new Error('QuotaExceededError');
      s.ls.set(k, String(v));
    },
    removeItem: (k) => s.ls.delete(k),
  };
  const navigator = {
    language: opts.language ?? 'pt-BR',
    doNotTrack: opts.dnt ? '1' : null,
    globalPrivacyControl: opts.gpc ? true : undefined,
  };
  if (opts.beacon !== false)
    navigator.sendBeacon = (u, blob) => {
      beacons.push({ url: u, type: blob.type, text: blob.text() });
      return opts.beaconResult ?? true;
    };

  const setTimeout_ = (fn, ms = 0) => {
    const t = { at: s.now + ms, fn, id: timers.length + 1 };
    timers.push(t);
    return t.id;
  };
  const clearTimeout_ = (id) => {
    const t = timers.find((x) => x.id === id);
    if (t) t.cancelled = true;
  };
  const AbortSignal_ = {
    timeout(ms) {
      const sig = { aborted: false, fns: [], addEventListener: (_t, f) => sig.fns.push(f) };
      setTimeout_(() => {
        sig.aborted = true;
        sig.fns.forEach((f) => f());
      }, ms);
      return sig;
    },
  };

  async function fetch(u, init = {}) {
    if (opts.fetchThrows) throw new TypeError('fetch is not allowed here');
    const req = { url: u, init, body: init.body, json: JSON.parse(init.body) };
    fetches.push(req);
    let r = reply(req);
    if (r === 'hang')
      r = new Promise((_res, rej) => {
        if (init.signal) init.signal.addEventListener('abort', () => rej(new Error('AbortError')));
      });
    r = await r;
    return {
      status: r.status,
      json: async () => {
        if (r.json === undefined) throw new SyntaxError('Unexpected end of JSON input');
        return r.json;
      },
    };
  }

  const ctx = Object.assign(win, {
    document: doc,
    location,
    history,
    navigator,
    screen: { width: 1280, height: 800 },
    crypto: webcrypto,
    fetch: opts.noFetch ? undefined : fetch,
    setTimeout: setTimeout_,
    clearTimeout: clearTimeout_,
    URLSearchParams,
    Blob,
    AbortSignal: AbortSignal_,
    console: opts.console || { error: () => { throw new Error('console.error called'); }, log() {}, warn() {} },
  });
  if (opts.lsThrows)
    Object.defineProperty(ctx, 'localStorage', {
      get() {
        throw new Error('SecurityError: localStorage is not available');
      },
    });
  else ctx.localStorage = localStorage;
  ctx.window = ctx;
  vm.createContext(ctx);
  vm.runInContext('Date.now = () => __clock.now', Object.assign(ctx, { __clock: clock }));

  const code = (opts.code || SOURCE).replace('__RBT_CONFIG__', JSON.stringify(config));
  const run = () => vm.runInContext(code, ctx);
  run();

  const p = {
    win: ctx,
    doc,
    store: s,
    fetches,
    beacons,
    navigations,
    history,
    get RB() { return ctx.RBTracking; },
    get url() { return url.href; },
    hits: () => fetches.filter((f) => f.url.endsWith('/api/collect')).flatMap((f) => f.json.hits),
    queue: () => JSON.parse(s.ls.get('_rbt_q') || '[]'),
    cookie: (k) => s.cookies.get(k),
    run,
    // Moves the clock, running due timers in order, with promise jobs in between.
    async advance(ms) {
      const end = s.now + ms;
      await settle();
      for (;;) {
        const due = timers.filter((t) => !t.cancelled && !t.done && t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
        if (!due) break;
        s.now = Math.max(s.now, due.at);
        due.done = true;
        due.fn();
        await settle();
      }
      s.now = end;
      await settle();
    },
    // An SPA navigation through the (possibly wrapped) History API.
    push: (u, state = {}) => ctx.history.pushState(state, '', u),
    replace: (u, state = {}) => ctx.history.replaceState(state, '', u),
    back(u) {
      url = new URL(u, url);
      win.dispatch('popstate', { state: null });
    },
    pendingTimers: () => timers.filter((t) => !t.cancelled && !t.done),
  };
  return p;
}
