/*
 * RBTracking: Pegada's browser library (readable source).
 *
 * build.mjs minifies this file into RBTracking.min.js. The server serves that file with
 * the config placeholder on the last line replaced by the tenant's JSON config
 * {h: hostClient, m: 1 = manual mode, e: server base URL, d: 1 = honour DNT/GPC}.
 * The wire contract is in README.md next to this file.
 *
 * Rule zero: the host page never breaks and never sees an error because of this script.
 * Every public method and every handler runs inside try/catch, async code cannot reject,
 * storage access is guarded (memory fallback), page callbacks are called inside try/catch.
 */
(function (w, d, c) {
  try {
    // Included twice: the first copy owns the page.
    if (w.RBTracking) return;
    var L = w.location,
      n = w.navigator,
      X = w.history,
      h = c.h || '',
      COLLECT = '/api/collect',
      HASH = '_rbt', // session hash: cookie + localStorage
      SEQ = '_rbt_n', // "<hash>.<q of last hit>.<ms of last hit>": cookie + localStorage
      OPT = '_rbt_optout', // "1" = opted out: cookie + localStorage
      QUEUE = '_rbt_q', // JSON array of unsent requests {i, a: path, b: body}: localStorage
      mem = {}, // stands in for localStorage when it throws
      flying = {}, // entry id -> 1 while a fetch carrying it is in flight
      cbs = {}, // entry id -> [ok, fail], for this page's life
      backoff = 0,
      retryTimer,
      spaTimer,
      started,
      last = '', // URL of the previous page access seen by this page
      PARAMS = 'utm_source utm_medium utm_campaign utm_term utm_content utm_id gclid fbclid msclkid ttclid'.split(' ');

    var T = (f) =>
      function () {
        try {
          return f.apply(this, arguments);
        } catch (e) {}
      };
    var call = (f, v) => {
      try {
        f && f(v);
      } catch (e) {}
    };
    var F = (error) => ({ status: 'fail', error });
    var valid = (v) => /^\d{45}$/.test(v);
    var cut = (v, max) => ('' + (v || '')).slice(0, max);

    // ---- storage ------------------------------------------------------------------
    // cookie(k) reads; cookie(k, v) writes, '' deletes. Host-only, path=/, 2 years.
    var cookie = (k, v) => {
      try {
        if (v === void 0) return (d.cookie.match('(^|; )' + k + '=([^;]*)') || [])[2];
        d.cookie = k + '=' + v + ';path=/;max-age=' + (v ? 63072e3 : 0) + ';SameSite=Lax' + (L.protocol == 'https:' ? ';Secure' : '');
      } catch (e) {}
    };
    // local(k) reads; local(k, v) writes, '' deletes. Memory when localStorage throws.
    var local = (k, v) => {
      try {
        if (v === void 0) return k in mem ? mem[k] : w.localStorage.getItem(k);
        v ? w.localStorage.setItem(k, v) : w.localStorage.removeItem(k);
        delete mem[k];
      } catch (e) {
        if (v !== void 0) mem[k] = v;
      }
    };
    // Small values are kept in both places; the cookie wins.
    var get = (k) => cookie(k) || local(k);
    var put = (k, v) => {
      cookie(k, v);
      local(k, v);
    };

    var load = () => {
      try {
        var q = JSON.parse(local(QUEUE));
        if (q.push) return q.filter((e) => e && e.b);
      } catch (e) {}
      return [];
    };
    var save = (q) => local(QUEUE, q.length ? JSON.stringify(q.slice(-100)) : ''); // 100 newest
    var drop = (test) => save(load().filter((e) => !test(e)));
    var isHit = (e) => e.a == COLLECT;

    // ---- identity -----------------------------------------------------------------
    // 32 unbiased random digits (random bytes >= 250 are rejected) + the 13-digit ms time.
    var idGenerator = () => {
      for (var s = '', a; s.length < 32; ) if ((a = w.crypto.getRandomValues(new Uint8Array(1))[0]) < 250) s += a % 10;
      return s + Date.now();
    };
    // The stored hash (a valid cookie first, else localStorage) or ''.
    var stored = () => (h && [cookie(HASH), local(HASH)].find(valid)) || '';
    // The hash, created on first need.
    var hash = (H) => {
      if (h && !(H = stored())) put(HASH, (H = idGenerator()));
      return H || '';
    };
    // [q of the last hit, ms of the last hit] of hash H.
    var seq = (H) => {
      var s = (get(SEQ) || '').split('.');
      return s[0] == H ? [s[1] | 0, s[2]] : [0];
    };
    var tracking = () => h && get(OPT) != 1 && !(c.d != 0 && (n.doNotTrack == 1 || n.globalPrivacyControl === true));

    // ---- delivery -----------------------------------------------------------------
    // Calls ok or fail of f = [ok, fail] with the shapes of SPEC §3.
    var settle = (f, r, j) =>
      f && (r > 199 && r < 300 ? call(f[0], { success: true, data: j && j.dados }) : call(f[1], j || F(r ? 'HTTP ' + r : 'offline')));

    // POST JSON as text/plain (no CORS preflight). Resolves [status or 0, reply]; never rejects.
    // Gives up after 10 s where AbortSignal.timeout exists.
    var post = async (path, body, r, j) => {
      try {
        var A = w.AbortSignal,
          x = await fetch(c.e + path, { method: 'POST', body, keepalive: body.length < 6e4, credentials: 'omit', signal: A && A.timeout && A.timeout(1e4) });
        r = x.status;
        j = await x.json();
      } catch (e) {}
      return [r, j];
    };

    // Sends the queue entries x.i as one request. Delivered, or refused for good (4xx
    // other than 408/429): removed from the queue. Otherwise kept, retried with backoff.
    var send = async (x, beacon) => {
      try {
        var body = JSON.stringify(x.b);
        // A beaconed entry counts as in flight for the rest of this page: visibilitychange
        // and pagehide of one unload do not beacon it twice (it stays queued for the next page).
        x.i.map((i) => (flying[i] = 1));
        if (beacon && n.sendBeacon && n.sendBeacon(c.e + x.a, new Blob([body], { type: 'text/plain' }))) return;
        var [r, j] = await post(x.a, body);
        x.i.map((i) => {
          settle(cbs[i], r, j);
          delete cbs[i];
        });
        if (r && r < 500 && r != 408 && r != 429) {
          backoff = 0;
          drop((e) => x.i.includes(e.i));
        } else {
          // In flight until the next task: an unload rejects this page's keepalive fetches
          // (Chromium: "Failed to fetch") although the browser still delivers them, and the
          // pagehide / visibilitychange handlers of that same task must not beacon them again.
          setTimeout(T(() => x.i.map((i) => delete flying[i])));
          clearTimeout(retryTimer);
          retryTimer = setTimeout(T(flush), 1e3 << (backoff < 7 ? ++backoff : backoff)); // 2 s .. 128 s
        }
      } catch (e) {}
    };

    // Sends every queued entry not already in flight; the hits of one session go together.
    var flush = (beacon) => {
      var groups = {}, k;
      h &&
        load().map((e) => {
          if (flying[e.i]) return;
          var g = groups[(k = isHit(e) ? e.b.s : e.i)];
          g ? (g.i.push(e.i), (g.b.hits = g.b.hits.concat(e.b.hits))) : (groups[k] = { i: [e.i], a: e.a, b: { ...e.b } });
        });
      for (k in groups) send(groups[k], beacon);
    };

    // Queues a request (persisted before the first attempt), then flushes.
    var request = (path, body, ok, fail) => {
      if (!h) return settle([ok, fail], 0, F('hostClient inválido'));
      var i = idGenerator(), q = load();
      cbs[i] = [ok, fail];
      q.push({ i, a: path, b: body });
      save(q);
      flush();
    };

    // ---- page accesses ------------------------------------------------------------
    var hit = (cb) => {
      var r = last || d.referrer, now = Date.now();
      last = L.href;
      if (!tracking()) return call(cb);
      var H = hash(),
        s = seq(H),
        p = s[1] ? now - s[1] : -1,
        params = new URLSearchParams(L.search),
        o = {
          q: s[0] + 1,
          u: cut(last, 4096),
          t: cut(d.title, 1024),
          r: cut(r, 4096),
          ts: now,
          sw: screen.width,
          sh: screen.height,
          l: cut(n.language, 35),
          p: p >= 0 && p < 18e5 ? p : null, // over 30 minutes: a new visit, not time on the page
        };
      put(SEQ, H + '.' + o.q + '.' + now);
      PARAMS.map((k, v) => (v = params.get(k)) && ((o.lp = o.lp || {})[k] = cut(v, 512)));
      request(COLLECT, { h, s: H, hits: [o] }, cb, cb);
    };

    // Automatic mode: a History API change is a page access when path or query changed.
    // Debounced, so push-then-replace is one access and the new title is in place.
    var changed = T(() => {
      clearTimeout(spaTimer);
      spaTimer = setTimeout(T(() => L.href.split('#')[0] != last.split('#')[0] && hit()), 100);
    });

    // flat v2 {tipo|codTipo, ...data} -> {eventType|codEventType, eventData}; v1 as is.
    var event = (e) => {
      e = e || {};
      if (e.eventData || e.eventType || e.codEventType) return e;
      var { tipo, codTipo, ...eventData } = e;
      return tipo != null ? { eventType: tipo, eventData } : { codEventType: codTipo, eventData };
    };

    var api = {
      getHash(link) {
        var H = hash(), q = '_rbt=' + H + '.' + Date.now() + '.' + seq(H)[0];
        // before the fragment, after any query
        if (link) L.href = H ? (link += '').replace(/#|$/, (m) => (/\?/.test(link.split('#')[0]) ? '&' : '?') + q + m) : link;
        return H;
      },
      getHostClient: () => h,
      idGenerator,
      // request_id: kept on a resend, so the server stores a lost-reply sendData once
      sendData(data, ok, fail) {
        request('/api/v2/sendData', { substitute_id: idGenerator(), ...data, hostClient: h, session_id: hash(), request_id: idGenerator() }, ok, fail);
      },
      sendEvent(params, ok, fail) {
        request('/api/sendEvent', { event: [].concat(params).map(event), hostClient: h, session_id: hash(), event_id: idGenerator() }, ok, fail);
      },
      getData(ok, fail) {
        var H = stored();
        H
          ? post('/api/getData', JSON.stringify({ h, s: H })).then(([r, j]) => settle([ok, fail], r, j))
          : settle([ok, fail], 0, F('Hash não enviado'));
      },
      start() {
        started || ((started = 1), hit());
      },
      navigate(cb) {
        started = 1;
        hit(cb);
      },
      clearSession() {
        var old = stored();
        if (h) {
          put(SEQ, '');
          put(HASH, idGenerator());
          drop((e) => isHit(e) && e.b.s == old);
        }
      },
      optOut() {
        put(OPT, '1');
        drop(isHit);
      },
      optIn() {
        put(OPT, '');
      },
    };
    for (var k in api) api[k] = T(api[k]);
    w.RBTracking = api;

    if (h) {
      // Cross-domain: adopt "_rbt=<hash>.<ms>[.<q>]" when under 5 minutes old; always
      // take it out of the address bar.
      var S = L.search, m = S.match(/[?&]_rbt=([^&]*)/);
      if (m) {
        try {
          X.replaceState(X.state, '', L.pathname + S.replace(m[0], '').replace(/^&/, '?') + L.hash);
        } catch (e) {}
        var [v, t, q] = m[1].split('.');
        if (valid(v) && Math.abs(Date.now() - t) < 3e5) {
          // continue the other site's sequence so (session, q) stays unique
          put(SEQ, v + '.' + Math.max(seq(v)[0], q | 0));
          put(HASH, v);
        }
      }
      // Write the hash back to both places: heals a lost copy, renews the cookie.
      if ((v = stored())) put(HASH, v);
      flush(); // what earlier pages could not deliver

      var on = (o, type, f) => o.addEventListener(type, T(f));
      on(w, 'pagehide', () => flush(1));
      on(d, 'visibilitychange', () => d.visibilityState == 'hidden' && flush(1));
      on(w, 'online', () => flush());

      if (!c.m) {
        started = 1;
        ['pushState', 'replaceState'].map((k, f) => {
          if ((f = X[k]))
            X[k] = function () {
              var r = f.apply(this, arguments);
              changed();
              return r;
            };
        });
        on(w, 'popstate', changed);
        d.readyState == 'loading' ? on(d, 'DOMContentLoaded', () => hit()) : hit();
      }
    }
  } catch (e) {}
})(window, document, __RBT_CONFIG__);
