import { test } from 'node:test';
import assert from 'node:assert/strict';
import { page, settle, store, plain, ENDPOINT } from './helpers/browser.js';

const networkError = () => Promise.reject(new TypeError('Failed to fetch'));
const only = (p, path) => p.fetches.filter((f) => f.url === ENDPOINT + path);

test('a failed send is queued in localStorage and resent with the identical body on the next load', async () => {
  const s = store();
  const p1 = page({ store: s, reply: networkError });
  let fail;
  p1.RB.sendData({ emailPrincipal: 'a@b.c' }, null, (r) => (fail = r));
  p1.RB.sendEvent({ tipo: '29' });
  await settle();
  assert.deepEqual(plain(fail), { status: 'fail', error: 'offline' }, 'the page hears about it once');
  const queued = JSON.parse(s.ls.get('_rbt_q'));
  assert.deepEqual(queued.map((e) => e.a), ['/api/collect', '/api/v2/sendData', '/api/sendEvent']);
  const sentBefore = p1.fetches.map((f) => f.init.body);
  assert.match(queued[1].b.request_id, /^\d{45}$/, 'sendData carries its idempotency key');

  const p2 = page({ store: s, advance: 60e3, url: 'https://site.example/next' });
  await settle();
  const bodies = p2.fetches.map((f) => f.init.body);
  for (const b of sentBefore) assert.ok(bodies.includes(b), `resent as is: ${b}`);
  assert.equal(s.ls.has('_rbt_q'), false, 'all delivered: the queue is gone');
  const newHit = only(p2, '/api/collect').map((f) => f.json.hits).find((h) => h[0].q === 2);
  assert.ok(newHit, 'the new page access has the next q');
});

test('queued hits of one session go in one batch, keeping their original q and ts', async () => {
  let down = true;
  const p = page({ reply: () => (down ? networkError() : { status: 204 }) });
  await settle();
  p.push('/2');
  await p.advance(1000);
  p.push('/3');
  await p.advance(1000);
  const queued = p.queue().map((e) => e.b.hits[0]);
  assert.deepEqual(queued.map((h) => [h.q, h.ts - queued[0].ts]), [[1, 0], [2, 100], [3, 1100]]);
  down = false;
  await p.advance(600e3); // whatever backoff is pending
  const last = p.fetches.at(-1).json;
  assert.deepEqual(last.hits, queued);
  assert.equal(p.queue().length, 0);
  const n = p.fetches.length;
  p.win.dispatch('online');
  await settle();
  assert.equal(p.fetches.length, n, 'nothing left to send');
});

test('while the page is open, failures are retried with capped backoff (2 s, 4 s, … 128 s)', async () => {
  const p = page({ reply: () => ({ status: 503, json: { success: false, error: 'storage unavailable' } }) });
  await settle();
  const times = [];
  let n = p.fetches.length;
  const start = p.store.now;
  for (let t = 0; t < 700; t++) {
    await p.advance(1000);
    if (p.fetches.length > n) {
      n = p.fetches.length;
      times.push((p.store.now - start) / 1000);
    }
  }
  const gaps = times.map((t, i) => t - (times[i - 1] || 0));
  assert.deepEqual(gaps.slice(0, 9), [2, 4, 8, 16, 32, 64, 128, 128, 128]);
  assert.equal(p.queue().length, 1);
});

test('5xx, 408, 429 and timeouts are retried; delivery then calls nothing twice', async () => {
  for (const status of [500, 502, 408, 429]) {
    let reply = { status };
    const p = page({ config: { m: 1 }, reply: () => reply });
    const calls = [];
    p.RB.sendData({ emailPrincipal: 'a@b.c' }, (r) => calls.push(['ok', r]), (r) => calls.push(['fail', r]));
    await settle();
    assert.equal(p.queue().length, 1, `kept after ${status}`);
    reply = { status: 200, json: { success: true, dados: { id: '9' } } };
    await p.advance(2000);
    assert.equal(p.fetches.length, 2);
    assert.equal(p.fetches[0].init.body, p.fetches[1].init.body);
    assert.equal(p.queue().length, 0);
    assert.deepEqual(calls.map((c) => c[0]), ['fail']);
  }
});

test('a slow server: the request is given up after 10 s and retried', async () => {
  let hang = true;
  const p = page({ reply: () => (hang ? 'hang' : { status: 204 }) });
  await p.advance(9000);
  assert.equal(p.fetches.length, 1);
  assert.equal(p.queue().length, 1);
  hang = false;
  await p.advance(1000 + 2000);
  assert.equal(p.fetches.length, 2);
  assert.equal(p.queue().length, 0);
});

test('4xx is final: dropped from the queue and fail called', async () => {
  const s = store();
  const p = page({ store: s, reply: () => ({ status: 422 }) });
  let fail;
  p.RB.sendEvent({ tipo: '1' }, null, (r) => (fail = r));
  await settle();
  assert.deepEqual(plain(fail), { status: 'fail', error: 'HTTP 422' });
  assert.equal(p.queue().length, 0);
  const p2 = page({ store: s, reply: () => ({ status: 204 }) });
  await settle();
  assert.equal(only(p2, '/api/sendEvent').length, 0);
});

test('fetch that throws synchronously, or no fetch at all: nothing escapes, the send is queued', async () => {
  for (const opt of [{ fetchThrows: true }, { noFetch: true }]) {
    const p = page(opt);
    let fail;
    p.RB.sendData({ emailPrincipal: 'a@b.c' }, null, (r) => (fail = r));
    p.RB.getData(null, () => {});
    await settle();
    assert.equal(fail.error, 'offline');
    assert.equal(p.queue().length, 2);
    await p.advance(10e3);
  }
});

test('the queue is bounded to the 100 newest entries', async () => {
  const p = page({ config: { m: 1 }, reply: networkError });
  for (let i = 0; i < 130; i++) p.RB.sendEvent({ tipo: '1', n: i });
  await settle();
  const q = p.queue();
  assert.equal(q.length, 100);
  assert.equal(q[0].b.event[0].eventData.n, 30);
  assert.equal(q.at(-1).b.event[0].eventData.n, 129);
});

test('a corrupt queue in localStorage is ignored', async () => {
  for (const junk of ['{not json', '"text"', '{"a":1}', 'null', '42', '[null, 1, {"i": "x"}, {"b": null}]']) {
    const s = store();
    s.ls.set('_rbt_q', junk);
    const p = page({ store: s });
    await settle();
    assert.equal(p.hits().length, 1);
  }
});

test('pagehide / hidden flush the queue with sendBeacon (text/plain Blob), entries stay queued', async () => {
  const p = page({ reply: networkError });
  p.RB.sendData({ emailPrincipal: 'a@b.c' });
  await p.advance(0); // the failed sends are retried from the next task on
  p.doc.visibilityState = 'hidden';
  p.doc.dispatch('visibilitychange');
  p.win.dispatch('pagehide');
  assert.equal(p.beacons.length, 2, 'one beacon per entry for one unload (hidden, then pagehide)');
  const [b] = p.beacons;
  assert.equal(b.url, `${ENDPOINT}/api/collect`);
  assert.equal(b.type, 'text/plain');
  assert.equal((await b.text), p.fetches[0].init.body);
  assert.equal((await p.beacons[1].text), p.fetches[1].init.body);
  assert.equal(p.queue().length, 2, 'kept: a beacon is not a delivery receipt; the server dedupes');
});

test('without sendBeacon (or when it refuses) the unload flush uses fetch keepalive', async () => {
  for (const opt of [{ beacon: false }, { beaconResult: false }]) {
    let down = true;
    const p = page({ ...opt, reply: () => (down ? networkError() : { status: 204 }) });
    await p.advance(0);
    down = false;
    p.win.dispatch('pagehide');
    await settle();
    assert.equal(p.fetches.length, 2);
    assert.equal(p.fetches[1].init.keepalive, true);
    assert.equal(p.queue().length, 0);
  }
});

test('a hit already in flight is not sent twice by a flush', async () => {
  let resolve;
  const p = page({ reply: () => new Promise((r) => (resolve = r)) });
  await settle();
  p.win.dispatch('online');
  p.win.dispatch('pagehide');
  await settle();
  assert.equal(p.fetches.length, 1);
  assert.equal(p.beacons.length, 0);
  resolve({ status: 204 });
  await settle();
  assert.equal(p.queue().length, 0);
});

test('a keepalive fetch rejected by the unload itself is not beaconed again in that unload', async () => {
  // Chromium rejects the page's in-flight keepalive fetches just before pagehide, in the same
  // task, although it still delivers them: beaconing them too would send every entry twice more.
  const pending = [];
  const p = page({ reply: () => new Promise((_, r) => pending.push(r)) });
  p.RB.sendData({ emailPrincipal: 'a@b.c' });
  await settle();
  assert.equal(p.fetches.length, 2, 'the hit and the sendData are in flight');
  pending.map((r) => r(new TypeError('Failed to fetch')));
  await settle(); // same task: promise jobs only
  p.doc.visibilityState = 'hidden';
  p.win.dispatch('pagehide');
  p.doc.dispatch('visibilitychange');
  assert.equal(p.beacons.length, 0);
  assert.equal(p.queue().length, 2, 'both stay queued for the next page');
});

test('the online event retries at once, without waiting for the backoff', async () => {
  let down = true;
  const p = page({ reply: () => (down ? Promise.reject(new TypeError('Failed to fetch')) : { status: 204 }) });
  await p.advance(0);
  assert.equal(p.queue().length, 1);
  down = false;
  p.win.dispatch('online');
  await settle();
  assert.equal(p.fetches.length, 2);
  assert.equal(p.queue().length, 0);
});
