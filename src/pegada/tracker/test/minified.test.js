// The file the browser downloads: fresh, within budget, and working (same fakes as the rest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { page, settle, store, plain, MINIFIED, HOST, ENDPOINT, T0 } from './helpers/browser.js';

const dir = fileURLToPath(new URL('..', import.meta.url));
const code = MINIFIED;
const only = (p, path) => p.fetches.filter((f) => f.url === ENDPOINT + path);

test('RBTracking.min.js is a fresh build of rbtracking.js (node build.mjs --check)', () => {
  const out = execFileSync(process.execPath, ['build.mjs', '--check'], { cwd: dir, encoding: 'utf8' });
  assert.match(out, /bytes gzipped/);
});

test('the minified file is at most 2500 bytes gzipped and keeps the placeholder once', () => {
  assert.ok(gzipSync(code, { level: 9 }).length <= 2500);
  assert.equal(code.split('__RBT_CONFIG__').length - 1, 1);
  assert.match(code, /\(window,document,__RBT_CONFIG__\);\n$/);
});

test('minified: page hit, SPA hit, sendData, sendEvent, getData', async () => {
  const p = page({
    code,
    url: 'https://site.example/?utm_source=news&fbclid=F1',
    referrer: 'https://ref.example/',
    reply: (r) => (r.url.endsWith('/api/collect') ? { status: 204 } : { status: 200, json: { success: true, dados: { id: '7' } } }),
  });
  await settle();
  assert.deepEqual(Object.keys(p.RB).length, 11);
  assert.equal(p.RB.getHostClient(), HOST);
  const h = p.RB.getHash();
  assert.match(h, /^\d{45}$/);
  p.push('/b');
  await p.advance(200);
  assert.deepEqual(
    p.hits().map((x) => [x.q, x.u, x.r, x.p, x.lp]),
    [
      [1, 'https://site.example/?utm_source=news&fbclid=F1', 'https://ref.example/', null, { utm_source: 'news', fbclid: 'F1' }],
      [2, 'https://site.example/b', 'https://site.example/?utm_source=news&fbclid=F1', 100, undefined],
    ]
  );
  const got = [];
  p.RB.sendData({ emailPrincipal: 'a@b.c' }, (r) => got.push(plain(r)));
  p.RB.sendEvent([{ tipo: '29', codCurso: '1' }, { codEventType: 'x', eventData: {} }], (r) => got.push(plain(r)));
  p.RB.getData((r) => got.push(plain(r)));
  await settle();
  assert.deepEqual(got, [
    { success: true, data: { id: '7' } },
    { success: true, data: { id: '7' } },
    { success: true, data: { id: '7' } },
  ]);
  const [d] = only(p, '/api/v2/sendData');
  assert.equal(d.json.session_id, h);
  assert.equal(d.json.hostClient, HOST);
  assert.deepEqual(only(p, '/api/sendEvent')[0].json.event, [
    { eventType: '29', eventData: { codCurso: '1' } },
    { codEventType: 'x', eventData: {} },
  ]);
  assert.deepEqual(only(p, '/api/getData')[0].json, { h: HOST, s: h });
});

test('minified: queue and resend on the next load, 4xx dropped', async () => {
  const s = store();
  const p1 = page({ code, store: s, reply: () => Promise.reject(new TypeError('Failed to fetch')) });
  p1.RB.sendData({ emailPrincipal: 'a@b.c' });
  await settle();
  const bodies = p1.fetches.map((f) => f.init.body);
  const p2 = page({ code, store: s, advance: 5000 });
  await settle();
  for (const b of bodies) assert.ok(p2.fetches.some((f) => f.init.body === b));
  assert.equal(s.ls.has('_rbt_q'), false);
  const p3 = page({ code, store: s, reply: () => ({ status: 400, json: { success: false, error: 'bad' } }) });
  let fail;
  p3.RB.sendEvent({ tipo: 1 }, null, (r) => (fail = plain(r)));
  await settle();
  assert.deepEqual(fail, { success: false, error: 'bad' });
  assert.equal(s.ls.has('_rbt_q'), false);
});

test('minified: manual mode, unknown tenant, DNT, opt-out, adoption', async () => {
  const m = page({ code, config: { m: 1 } });
  await settle();
  assert.equal(m.fetches.length, 0);
  m.RB.start();
  await settle();
  assert.equal(m.hits().length, 1);

  const none = page({ code, config: { h: '' } });
  none.RB.sendData({});
  await settle();
  assert.equal(none.fetches.length, 0);
  assert.equal(none.RB.getHostClient(), '');

  const dnt = page({ code, dnt: true });
  await settle();
  assert.equal(dnt.fetches.length, 0);

  const s = store();
  const out = page({ code, store: s, config: { m: 1 } });
  out.RB.optOut();
  out.RB.navigate();
  await settle();
  assert.equal(out.fetches.length, 0);

  const H = '5'.repeat(32) + T0;
  const b = page({ code, url: `https://b.example/?_rbt=${H}.${T0}.2` });
  await settle();
  assert.equal(b.RB.getHash(), H);
  assert.equal(b.url, 'https://b.example/');
  assert.equal(b.hits()[0].q, 3);
});

test('minified: nothing escapes when storage and fetch all throw', async () => {
  const p = page({ code, lsThrows: true, cookieThrows: true, fetchThrows: true });
  for (const fn of Object.keys(p.RB)) p.RB[fn]();
  p.win.dispatch('pagehide');
  await p.advance(300e3);
});
