import { test } from 'node:test';
import assert from 'node:assert/strict';
import { page, settle, store, T0, HOST, SOURCE } from './helpers/browser.js';

const HASH = /^\d{45}$/;

test('the source references the config placeholder exactly once', () => {
  assert.equal(SOURCE.split('__RBT_CONFIG__').length - 1, 1);
});

test('window.RBTracking has exactly the documented methods', () => {
  const p = page();
  assert.deepEqual(Object.keys(p.RB).sort(), [
    'clearSession', 'getData', 'getHash', 'getHostClient', 'idGenerator', 'navigate', 'optIn', 'optOut',
    'sendData', 'sendEvent', 'start',
  ]);
  assert.equal(p.RB.getHostClient(), HOST);
});

test('idGenerator: 45 digits, 32 random then the 13-digit ms time, all distinct', () => {
  const p = page();
  const ids = Array.from({ length: 2000 }, () => p.RB.idGenerator());
  for (const id of ids) {
    assert.match(id, HASH);
    assert.equal(id.slice(32), String(T0));
  }
  assert.equal(new Set(ids).size, ids.length);
  // every digit shows up in every random position often enough (no obvious bias)
  const counts = Array(10).fill(0);
  for (const id of ids) for (const ch of id.slice(0, 32)) counts[ch]++;
  const expected = (ids.length * 32) / 10;
  for (const c of counts) assert.ok(Math.abs(c - expected) < expected * 0.05, `digit counts ${counts}`);
});

test('the session hash is kept in cookie and localStorage and survives the next page and visit', async () => {
  const s = store();
  const p1 = page({ store: s, url: 'https://site.example/' });
  const h = p1.RB.getHash();
  assert.match(h, HASH);
  assert.equal(s.cookies.get('_rbt'), h);
  assert.equal(s.ls.get('_rbt'), h);
  const cookieLine = s.cookieWrites.find((l) => l.startsWith('_rbt='));
  assert.match(cookieLine, /;path=\/;max-age=63072000;SameSite=Lax;Secure$/);
  const p2 = page({ store: s, advance: 86400e3 * 30 });
  assert.equal(p2.RB.getHash(), h);
});

test('no Secure attribute on a plain http page', () => {
  const s = store();
  page({ store: s, url: 'http://site.example/' });
  assert.ok(s.cookieWrites.every((l) => !l.includes('Secure')));
});

test('the cookie wins when cookie and localStorage disagree, and localStorage is healed', () => {
  const s = store();
  const a = '1'.repeat(32) + T0;
  const b = '2'.repeat(32) + T0;
  s.cookies.set('_rbt', a);
  s.ls.set('_rbt', b);
  const p = page({ store: s });
  assert.equal(p.RB.getHash(), a);
  assert.equal(s.ls.get('_rbt'), a);
});

test('a lost cookie is restored from localStorage; an invalid cookie is ignored', () => {
  const s = store();
  const b = '2'.repeat(32) + T0;
  s.cookies.set('_rbt', 'garbage');
  s.ls.set('_rbt', b);
  const p = page({ store: s });
  assert.equal(p.RB.getHash(), b);
  assert.equal(s.cookies.get('_rbt'), b);
});

test('clearSession starts a new hash and a new sequence; queued hits of the old session go', async () => {
  const s = store();
  let down = true;
  const p = page({ store: s, reply: () => (down ? Promise.reject(new TypeError('Failed to fetch')) : { status: 204 }) });
  p.RB.sendData({ emailPrincipal: 'a@b.c' });
  await settle();
  const old = p.RB.getHash();
  assert.equal(p.queue().length, 2); // the page hit and the sendData
  p.RB.clearSession();
  const fresh = p.RB.getHash();
  assert.match(fresh, HASH);
  assert.notEqual(fresh, old);
  assert.equal(s.cookies.get('_rbt'), fresh);
  assert.deepEqual(p.queue().map((e) => e.a), ['/api/v2/sendData']);
  assert.equal(p.queue()[0].b.session_id, old, 'a queued sendData keeps its own session');
  down = false;
  p.RB.navigate();
  await settle();
  const hit = p.hits().at(-1);
  assert.equal(hit.q, 1);
  assert.equal(hit.p, null);
  assert.equal(p.fetches.at(-1).json.s, fresh);
});

test('localStorage that throws: hash, sequence and delivery still work (cookie + memory)', async () => {
  const s = store();
  const p1 = page({ store: s, lsThrows: true });
  await settle();
  const h = p1.RB.getHash();
  assert.match(h, HASH);
  assert.equal(p1.hits().length, 1);
  const p2 = page({ store: s, lsThrows: true, advance: 1000 });
  await settle();
  assert.equal(p2.RB.getHash(), h);
  assert.equal(p2.hits()[0].q, 2);
  assert.equal(p2.hits()[0].p, 1000);
  p2.RB.optOut();
  p2.RB.sendData({ nome: 'x' });
  p2.RB.clearSession();
  await settle();
});

test('localStorage that is full (setItem throws) still delivers; a failed send is kept in memory', async () => {
  let down = true;
  const p = page({ quota: true, reply: () => (down ? { status: 503 } : { status: 204 }) });
  await settle();
  assert.equal(p.fetches.length, 1);
  down = false;
  await p.advance(2000);
  assert.equal(p.fetches.length, 2);
  assert.deepEqual(p.fetches[1].json, p.fetches[0].json);
});

test('cookies and localStorage that both throw: nothing escapes, hits are still sent', async () => {
  const p = page({ lsThrows: true, cookieThrows: true });
  await settle();
  assert.equal(p.hits().length, 1);
  assert.match(p.RB.getHash(), HASH);
});
