import { test } from 'node:test';
import assert from 'node:assert/strict';
import { page, settle, store, plain, ENDPOINT } from './helpers/browser.js';

const only = (p, path) => p.fetches.filter((f) => f.url === ENDPOINT + path);

test('unknown tenant (h = ""): nothing recorded, stored or sent; methods are harmless no-ops', async () => {
  const s = store();
  const p = page({ store: s, config: { h: '' }, url: 'https://site.example/?_rbt=' + '1'.repeat(32) + Date.now() });
  const fails = [];
  assert.equal(p.RB.getHostClient(), '');
  assert.equal(p.RB.getHash(), '');
  p.RB.sendData({ emailPrincipal: 'a@b.c' }, null, (r) => fails.push(plain(r)));
  p.RB.sendEvent({ tipo: '1' }, null, (r) => fails.push(plain(r)));
  p.RB.getData(null, (r) => fails.push(plain(r)));
  p.RB.start();
  let navigated = 0;
  p.RB.navigate(() => navigated++);
  p.RB.clearSession();
  p.push('/x');
  p.win.dispatch('pagehide');
  p.win.dispatch('online');
  await p.advance(60e3);
  assert.equal(p.fetches.length, 0);
  assert.equal(p.beacons.length, 0);
  assert.equal(s.cookies.size, 0);
  assert.equal(s.ls.size, 0);
  assert.deepEqual(fails, [
    { status: 'fail', error: 'hostClient inválido' },
    { status: 'fail', error: 'hostClient inválido' },
    { status: 'fail', error: 'Hash não enviado' },
  ]);
  assert.equal(navigated, 1, 'navigate(cb) still calls back');
  assert.match(p.RB.idGenerator(), /^\d{45}$/);
  p.RB.getHash('https://other.example/');
  assert.deepEqual(p.navigations, ['https://other.example/'], 'a link still goes where it points');
});

test('Do Not Track with d = 1: no hits (and no identifier), but sendData and sendEvent still go', async () => {
  const s = store();
  const p = page({ store: s, dnt: true, config: { d: 1 } });
  await settle();
  p.push('/2');
  await p.advance(500);
  p.RB.navigate();
  await settle();
  assert.equal(only(p, '/api/collect').length, 0);
  assert.equal(s.cookies.get('_rbt'), undefined);
  p.RB.sendData({ emailPrincipal: 'a@b.c' });
  p.RB.sendEvent({ tipo: '1' });
  await settle();
  assert.equal(only(p, '/api/v2/sendData').length, 1);
  assert.equal(only(p, '/api/sendEvent').length, 1);
});

test('Global Privacy Control with d = 1: no hits', async () => {
  const p = page({ gpc: true });
  await settle();
  assert.equal(p.fetches.length, 0);
});

test('DNT / GPC with d = 0 (tenant turned it off): hits are recorded', async () => {
  const p = page({ dnt: true, gpc: true, config: { d: 0 } });
  await settle();
  assert.equal(p.hits().length, 1);
});

test('optOut: no hits afterwards (also on later pages), queued hits dropped; optIn resumes', async () => {
  const s = store();
  let down = true;
  const p = page({ store: s, reply: () => (down ? Promise.reject(new TypeError('x')) : { status: 204 }) });
  p.RB.sendData({ emailPrincipal: 'a@b.c' });
  await settle();
  assert.equal(p.queue().length, 2);
  p.RB.optOut();
  assert.equal(s.cookies.get('_rbt_optout'), '1');
  assert.equal(s.ls.get('_rbt_optout'), '1');
  assert.deepEqual(p.queue().map((e) => e.a), ['/api/v2/sendData'], 'the form submission is kept');
  down = false;
  p.push('/after');
  await p.advance(200e3);
  assert.equal(p.hits().length, 1, 'only the first attempt, made before the opt-out');
  assert.equal(p.queue().length, 0);

  const p2 = page({ store: s });
  await settle();
  assert.equal(p2.fetches.length, 0);
  p2.RB.optIn();
  assert.equal(s.cookies.has('_rbt_optout'), false);
  assert.equal(s.ls.has('_rbt_optout'), false);
  p2.RB.navigate();
  await settle();
  assert.equal(p2.hits().length, 1);
});

test('no console output, no exception: a full session against a server that is down', async () => {
  const logged = [];
  const console = { error: (...a) => logged.push(a), warn: (...a) => logged.push(a), log: (...a) => logged.push(a) };
  const p = page({ console, reply: () => Promise.reject(new TypeError('Failed to fetch')) });
  p.RB.sendData({ emailPrincipal: 'a@b.c' }, null, () => {});
  p.RB.sendEvent([{ tipo: 1 }, null]);
  p.RB.getData();
  p.push('/x');
  p.back('/');
  p.win.dispatch('online');
  p.doc.visibilityState = 'hidden';
  p.doc.dispatch('visibilitychange');
  p.win.dispatch('pagehide');
  await p.advance(600e3);
  assert.deepEqual(logged, []);
});
