import { test } from 'node:test';
import assert from 'node:assert/strict';
import { page, settle, store, plain, T0 } from './helpers/browser.js';

const H = '7'.repeat(32) + T0;

test('getHash(link) goes to the link with _rbt=<hash>.<ms>.<q>, keeping query and fragment', async () => {
  const p = page({ url: 'https://a.example/' });
  await settle();
  const h = p.RB.getHash();
  const cases = {
    'https://b.example/inscricao': `https://b.example/inscricao?_rbt=${h}.${T0}.1`,
    'https://b.example/f?curso=7&x=1': `https://b.example/f?curso=7&x=1&_rbt=${h}.${T0}.1`,
    'https://b.example/f?curso=7#passo-2': `https://b.example/f?curso=7&_rbt=${h}.${T0}.1#passo-2`,
    'https://b.example/#/spa?x=1': `https://b.example/?_rbt=${h}.${T0}.1#/spa?x=1`,
  };
  for (const [link, expected] of Object.entries(cases)) {
    assert.equal(p.RB.getHash(link), h);
    assert.equal(p.navigations.at(-1), expected);
  }
});

test('the other site adopts a fresh hash, removes the param, and continues the sequence', async () => {
  const s = store();
  const url = `https://b.example/form?curso=7&_rbt=${H}.${T0 - 60e3}.4&x=y#frag`;
  const p = page({ store: s, url, referrer: 'https://a.example/' });
  await settle();
  assert.equal(p.RB.getHash(), H);
  assert.equal(s.cookies.get('_rbt'), H);
  assert.equal(p.url, 'https://b.example/form?curso=7&x=y#frag');
  const hit = p.hits()[0];
  assert.equal(hit.u, 'https://b.example/form?curso=7&x=y#frag', 'the recorded URL has no _rbt');
  assert.equal(hit.q, 5);
  assert.equal(hit.p, null);
  assert.equal(p.fetches[0].json.s, H);
});

test('adoption replaces a different hash the second site already had', async () => {
  const s = store();
  const mine = '3'.repeat(32) + T0;
  s.cookies.set('_rbt', mine);
  s.ls.set('_rbt', mine);
  s.cookies.set('_rbt_n', `${mine}.9.${T0 - 1000}`);
  const p = page({ store: s, url: `https://b.example/?_rbt=${H}.${T0}` });
  await settle();
  assert.equal(p.RB.getHash(), H);
  assert.equal(s.ls.get('_rbt'), H);
  assert.equal(p.hits()[0].q, 1);
  assert.equal(p.url, 'https://b.example/');
});

test('a round trip to a site that already knows the hash keeps the higher q', async () => {
  const s = store();
  s.cookies.set('_rbt', H);
  s.cookies.set('_rbt_n', `${H}.12.${T0 - 1000}`);
  const p = page({ store: s, url: `https://a.example/?_rbt=${H}.${T0}.3` });
  await settle();
  assert.equal(p.hits()[0].q, 13);
});

test('a stale (over 5 minutes), future or malformed value is ignored but still removed', async () => {
  for (const value of [`${H}.${T0 - 5 * 60e3 - 1}`, `${H}.${T0 + 6 * 60e3}`, `123.${T0}`, `${H}`, `${H}.abc`, `x${H.slice(1)}.${T0}`, '']) {
    const s = store();
    const p = page({ store: s, url: `https://b.example/p?_rbt=${value}` });
    await settle();
    assert.notEqual(p.RB.getHash(), H, value);
    assert.match(p.RB.getHash(), /^\d{45}$/);
    assert.equal(p.url, 'https://b.example/p', value);
    assert.equal(p.hits()[0].u, 'https://b.example/p');
  }
});

test('adoption happens before the hit also in manual mode, and the address bar is cleaned without recording', async () => {
  const s = store();
  const p = page({ store: s, config: { m: 1 }, url: `https://b.example/?a=1&_rbt=${H}.${T0}` });
  await p.advance(1000);
  assert.equal(p.fetches.length, 0);
  assert.equal(p.url, 'https://b.example/?a=1');
  assert.deepEqual(p.history.calls, [['replace', '/?a=1']]);
  assert.equal(p.RB.getHash(), H);
});

test('getData on the second site reads what sendData sent on the first (same hash)', async () => {
  const server = new Map();
  const reply = (r) => {
    if (r.url.endsWith('/api/v2/sendData')) {
      const { hostClient, session_id, substitute_id, request_id, ...fields } = r.json;
      server.set(session_id, fields);
      return { status: 200, json: { success: true, dados: { id: '1' } } };
    }
    if (r.url.endsWith('/api/getData')) return { status: 200, json: { success: true, dados: server.get(r.json.s) || {} } };
    return { status: 204 };
  };
  const a = page({ url: 'https://a.example/', reply });
  a.RB.sendData({ nome: 'Ana', emailPrincipal: 'ana@example.com' });
  await settle();
  a.RB.getHash('https://b.example/inscricao');
  const b = page({ url: a.navigations[0], reply, advance: 2000 });
  let got;
  b.RB.getData((r) => (got = r));
  await settle();
  assert.deepEqual(plain(got), { success: true, data: { nome: 'Ana', emailPrincipal: 'ana@example.com' } });
});
