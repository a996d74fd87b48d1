import { test } from 'node:test';
import assert from 'node:assert/strict';
import { page, settle, store, plain, T0, HOST, ENDPOINT } from './helpers/browser.js';

const LANDING =
  'https://site.example/cursos?utm_source=google&utm_medium=cpc&utm_campaign=vest2025&utm_term=direito' +
  '&utm_content=banner&utm_id=42&gclid=Cj0KCQ&fbclid=IwAR&msclkid=ms1&ScCid=sc&ttclid=tt&li_fat_id=li' +
  '&foo=bar&gbraid=&x=1#top';

test('a page access on load carries every field, lp from the landing URL', async () => {
  const p = page({ url: LANDING, referrer: 'https://www.google.com/', title: 'Cursos', language: 'pt-BR' });
  await settle();
  assert.equal(p.fetches.length, 1);
  const f = p.fetches[0];
  assert.equal(f.url, `${ENDPOINT}/api/collect`);
  assert.equal(f.init.method, 'POST');
  assert.equal(typeof f.init.body, 'string', 'a string body goes out as text/plain (no preflight)');
  assert.equal(f.init.headers, undefined);
  assert.equal(f.init.keepalive, true);
  assert.equal(f.init.credentials, 'omit');
  assert.ok(f.init.signal, 'a timeout signal is attached');
  assert.deepEqual(Object.keys(f.json), ['h', 's', 'hits']);
  assert.equal(f.json.h, HOST);
  assert.equal(f.json.s, p.RB.getHash());
  assert.deepEqual(f.json.hits, [
    {
      q: 1,
      u: LANDING,
      t: 'Cursos',
      r: 'https://www.google.com/',
      ts: T0,
      sw: 1280,
      sh: 800,
      l: 'pt-BR',
      p: null,
      lp: {
        utm_source: 'google',
        utm_medium: 'cpc',
        utm_campaign: 'vest2025',
        utm_term: 'direito',
        utm_content: 'banner',
        utm_id: '42',
        gclid: 'Cj0KCQ',
        fbclid: 'IwAR',
        msclkid: 'ms1',
        ttclid: 'tt',
      },
    },
  ]);
  assert.equal(p.queue().length, 0, 'delivered hits leave the queue');
});

test('no campaign parameters: lp is omitted', async () => {
  const p = page({ url: 'https://site.example/?a=1' });
  await settle();
  assert.equal('lp' in p.hits()[0], false);
});

test('q increments and persists across pages; p is the time on the previous page', async () => {
  const s = store();
  const p1 = page({ store: s, url: 'https://site.example/1' });
  await settle();
  const p2 = page({ store: s, url: 'https://site.example/2', referrer: 'https://site.example/1', advance: 12_345 });
  await settle();
  const p3 = page({ store: s, url: 'https://site.example/3', advance: 1000 });
  await settle();
  assert.deepEqual(
    [p1, p2, p3].map((p) => [p.hits()[0].q, p.hits()[0].p]),
    [[1, null], [2, 12_345], [3, 1000]]
  );
  assert.equal(p2.hits()[0].r, 'https://site.example/1');
  assert.equal(p3.hits()[0].s, undefined);
  assert.equal(new Set([p1, p2, p3].map((p) => p.fetches[0].json.s)).size, 1);
});

test('a gap over 30 minutes is not time on the page: p is null, q continues', async () => {
  const s = store();
  page({ store: s });
  await settle();
  const p2 = page({ store: s, advance: 31 * 60e3 });
  await settle();
  assert.equal(p2.hits()[0].q, 2);
  assert.equal(p2.hits()[0].p, null);
});

test('overlong URL, title and referrer are cut to the collector limits', async () => {
  const long = 'https://site.example/?' + 'a'.repeat(5000);
  const p = page({ url: long, referrer: long, title: 't'.repeat(2000) });
  await settle();
  const hit = p.hits()[0];
  assert.equal(hit.u.length, 4096);
  assert.equal(hit.r.length, 4096);
  assert.equal(hit.t.length, 1024);
});

test('SPA: pushState records a hit with r = the previous URL; the title is read after the route change', async () => {
  const p = page({ url: 'https://site.example/a?x=1', title: 'A' });
  await settle();
  const ret = p.push('/b?y=2');
  assert.equal(ret, 'push-result', 'the wrapped pushState returns what the original returns');
  assert.equal(p.url, 'https://site.example/b?y=2');
  p.doc.title = 'B';
  await p.advance(50);
  assert.equal(p.hits().length, 1, 'debounced');
  await p.advance(100);
  const hit = p.hits()[1];
  assert.equal(hit.q, 2);
  assert.equal(hit.u, 'https://site.example/b?y=2');
  assert.equal(hit.r, 'https://site.example/a?x=1');
  assert.equal(hit.t, 'B');
  assert.equal(hit.p, 100, 'the access is recorded when the debounce settles');
});

test('SPA: replaceState to the same path/query (or a fragment) records nothing; popstate does', async () => {
  const p = page({ url: 'https://site.example/a' });
  await settle();
  p.replace('/a', { scroll: 1 });
  p.replace('/a#section');
  p.push('/a#other');
  await p.advance(500);
  assert.equal(p.hits().length, 1);
  p.replace('/a?tab=2');
  await p.advance(500);
  assert.equal(p.hits().length, 2);
  p.back('/a');
  await p.advance(500);
  assert.equal(p.hits().length, 3);
  assert.equal(p.hits()[2].r, 'https://site.example/a?tab=2');
  assert.deepEqual(p.hits().map((h) => h.q), [1, 2, 3]);
});

test('SPA: a redirect (push then replace) is one page access', async () => {
  const p = page({ url: 'https://site.example/' });
  await settle();
  p.push('/login');
  p.replace('/login/step1');
  await p.advance(500);
  assert.deepEqual(p.hits().map((h) => h.u), ['https://site.example/', 'https://site.example/login/step1']);
});

test('the initial hit waits for DOMContentLoaded while the document is loading', async () => {
  const p = page({ readyState: 'loading', title: '' });
  await settle();
  assert.equal(p.fetches.length, 0);
  p.doc.title = 'Later';
  p.doc.dispatch('DOMContentLoaded');
  await settle();
  assert.equal(p.hits()[0].t, 'Later');
});

test('manual mode: nothing until start(), then navigate() records one access each', async () => {
  const s = store();
  const p = page({ store: s, config: { m: 1 }, url: 'https://app.example/', referrer: 'https://ref.example/' });
  await settle();
  p.push('/route');
  await p.advance(1000);
  assert.equal(p.fetches.length, 0);
  assert.equal(s.cookies.get('_rbt'), undefined, 'no identifier is written before start()');
  p.RB.start();
  p.RB.start();
  await settle();
  assert.equal(p.hits().length, 1);
  assert.equal(p.hits()[0].u, 'https://app.example/route');
  assert.equal(p.hits()[0].r, 'https://ref.example/');
  p.push('/next');
  await p.advance(1000);
  assert.equal(p.hits().length, 1, 'history changes are the app’s to report in manual mode');
  let called = 0;
  p.RB.navigate(() => called++);
  assert.equal(called, 0);
  await settle();
  assert.equal(called, 1, 'cb runs after the send attempt');
  assert.deepEqual(p.hits().map((h) => [h.q, h.r]), [[1, 'https://ref.example/'], [2, 'https://app.example/route']]);
});

test('manual mode: navigate(cb) starts tracking without start(); cb also runs when the send fails', async () => {
  const p = page({ config: { m: 1 }, reply: () => Promise.reject(new TypeError('Failed to fetch')) });
  let got;
  p.RB.navigate((r) => (got = r));
  await settle();
  assert.equal(p.fetches.length, 1);
  assert.deepEqual(plain(got), { status: 'fail', error: 'offline' });
  assert.equal(p.queue().length, 1, 'kept for a retry');
});

test('included twice: the second copy does not track again', async () => {
  const p = page();
  const first = p.RB;
  p.run();
  await settle();
  assert.equal(p.RB, first);
  assert.equal(p.fetches.length, 1);
  p.push('/x');
  await p.advance(500);
  assert.equal(p.fetches.length, 2);
});
