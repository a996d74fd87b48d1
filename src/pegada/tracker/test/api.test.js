import { test } from 'node:test';
import assert from 'node:assert/strict';
import { page, settle, store, plain, HOST, ENDPOINT } from './helpers/browser.js';

const HASH = /^\d{45}$/;
const only = (p, path) => p.fetches.filter((f) => f.url === ENDPOINT + path);

test('sendData: form fields merged with hostClient, session_id, substitute_id, request_id; ok gets {success, data}', async () => {
  const p = page({
    reply: (r) => (r.url.endsWith('/api/v2/sendData') ? { status: 200, json: { success: true, dados: { id: '155' } } } : { status: 204 }),
  });
  let ok, fail;
  p.RB.sendData(
    { nome: 'Ana', emailPrincipal: 'ana@example.com', camposPersonalizados: { turno: 'noite' }, hostClient: 'forged' },
    (r) => (ok = r),
    (r) => (fail = r)
  );
  await settle();
  const [f] = only(p, '/api/v2/sendData');
  assert.equal(f.init.method, 'POST');
  assert.equal(typeof f.init.body, 'string');
  assert.equal(f.json.nome, 'Ana');
  assert.equal(f.json.emailPrincipal, 'ana@example.com');
  assert.deepEqual(f.json.camposPersonalizados, { turno: 'noite' });
  assert.equal(f.json.hostClient, HOST, 'the library’s hostClient wins');
  assert.equal(f.json.session_id, p.RB.getHash());
  assert.match(f.json.substitute_id, HASH);
  assert.match(f.json.request_id, HASH);
  assert.notEqual(f.json.request_id, f.json.substitute_id);
  assert.equal('token' in f.json, false);
  assert.deepEqual(plain(ok), { success: true, data: { id: '155' } });
  assert.equal(fail, undefined);
  assert.equal(p.queue().length, 0);
});

test('sendData: a substitute_id given by the page is kept', async () => {
  const p = page();
  p.RB.sendData({ emailPrincipal: 'a@b.c', substitute_id: 'pedido-991' });
  await settle();
  assert.equal(only(p, '/api/v2/sendData')[0].json.substitute_id, 'pedido-991');
});

test('sendData: every call gets its own request_id (the idempotency key); the library’s wins', async () => {
  const p = page();
  p.RB.sendData({ emailPrincipal: 'a@b.c', request_id: 'forged' });
  p.RB.sendData({ emailPrincipal: 'a@b.c', request_id: 'forged' });
  await settle();
  const ids = only(p, '/api/v2/sendData').map((f) => f.json.request_id);
  assert.equal(ids.length, 2);
  for (const id of ids) assert.match(id, HASH);
  assert.notEqual(ids[0], ids[1]);
});

test('sendData creates the hash when none exists yet (manual mode before start)', async () => {
  const s = store();
  const p = page({ store: s, config: { m: 1 } });
  assert.equal(s.cookies.get('_rbt'), undefined);
  p.RB.sendData({ emailPrincipal: 'a@b.c' });
  await settle();
  assert.match(s.cookies.get('_rbt'), HASH);
  assert.equal(only(p, '/api/v2/sendData')[0].json.session_id, s.cookies.get('_rbt'));
  assert.equal(only(p, '/api/collect').length, 0);
});

test('sendData refused (4xx): fail gets the server reply, the request is not retried', async () => {
  const refusal = { success: false, error: 'emailPrincipal: not an e-mail address', fields: { emailPrincipal: 'invalid' } };
  const p = page({ reply: (r) => (r.url.endsWith('/sendData') ? { status: 400, json: refusal } : { status: 204 }) });
  let ok, fail;
  p.RB.sendData({ emailPrincipal: 'nope' }, (r) => (ok = r), (r) => (fail = r));
  await settle();
  assert.equal(ok, undefined);
  assert.deepEqual(plain(fail), refusal);
  assert.equal(p.queue().length, 0);
  await p.advance(600e3);
  assert.equal(only(p, '/api/v2/sendData').length, 1);
});

test('sendEvent: a flat v2 event becomes {eventType, eventData}', async () => {
  const p = page({ reply: () => ({ status: 200, json: { success: true, dados: 1 } }) });
  let ok;
  p.RB.sendEvent({ tipo: '29', codCurso: '1', codOferta: '3', descricao: '<b>x</b>' }, (r) => (ok = r));
  await settle();
  const [f] = only(p, '/api/sendEvent');
  assert.deepEqual(f.json.event, [{ eventType: '29', eventData: { codCurso: '1', codOferta: '3', descricao: '<b>x</b>' } }]);
  assert.equal(f.json.hostClient, HOST);
  assert.equal(f.json.session_id, p.RB.getHash());
  assert.match(f.json.event_id, HASH);
  assert.deepEqual(plain(ok), { success: true, data: 1 });
});

test('sendEvent: codTipo, the v1 shape, and an array of both go in one request', async () => {
  const p = page();
  p.RB.sendEvent([
    { codTipo: 'matricula', codCurso: '7' },
    { eventType: '29', eventData: { codOferta: '3' } },
    { codEventType: 'visita', eventData: {} },
  ]);
  await settle();
  const f = only(p, '/api/sendEvent');
  assert.equal(f.length, 1);
  assert.deepEqual(f[0].json.event, [
    { codEventType: 'matricula', eventData: { codCurso: '7' } },
    { eventType: '29', eventData: { codOferta: '3' } },
    { codEventType: 'visita', eventData: {} },
  ]);
  assert.deepEqual(Object.keys(f[0].json).sort(), ['event', 'event_id', 'hostClient', 'session_id']);
});

test('sendEvent: the v1 single object is sent as is; an event without a type is left for the server to refuse', async () => {
  const p = page({ reply: (r) => (r.url.endsWith('/sendEvent') ? { status: 400, json: { success: false, error: 'event without type' } } : { status: 204 }) });
  let fail;
  p.RB.sendEvent({ eventType: '29', eventData: { codCurso: '1' } });
  p.RB.sendEvent({ descricao: 'no type' }, null, (r) => (fail = r));
  await settle();
  const f = only(p, '/api/sendEvent');
  assert.deepEqual(f[0].json.event, [{ eventType: '29', eventData: { codCurso: '1' } }]);
  assert.deepEqual(f[1].json.event, [{ eventData: { descricao: 'no type' } }]);
  assert.equal(fail.error, 'event without type');
});

test('getData without a stored hash: fail shape, no request', async () => {
  const p = page({ config: { m: 1 } });
  let ok, fail;
  p.RB.getData((r) => (ok = r), (r) => (fail = r));
  await settle();
  assert.equal(ok, undefined);
  assert.deepEqual(plain(fail), { status: 'fail', error: 'Hash não enviado' });
  assert.equal(p.fetches.length, 0);
});

test('getData with a hash: POST {h, s}; ok gets {success, data}', async () => {
  const dados = { nome: 'Ana', emailPrincipal: 'ana@example.com' };
  const p = page({ reply: (r) => (r.url.endsWith('/api/getData') ? { status: 200, json: { success: true, dados } } : { status: 204 }) });
  let ok;
  p.RB.getData((r) => (ok = r));
  await settle();
  const [f] = only(p, '/api/getData');
  assert.deepEqual(f.json, { h: HOST, s: p.RB.getHash() });
  assert.deepEqual(plain(ok), { success: true, data: dados });
});

test('getData when the server is down: fail, nothing queued', async () => {
  const p = page({ reply: (r) => (r.url.endsWith('/api/getData') ? Promise.reject(new TypeError('Failed to fetch')) : { status: 204 }) });
  await settle();
  let fail;
  p.RB.getData(null, (r) => (fail = r));
  await settle();
  assert.deepEqual(plain(fail), { status: 'fail', error: 'offline' });
  assert.equal(p.queue().length, 0);
});

test('callbacks that throw do not escape; missing callbacks are fine', async () => {
  const p = page({ reply: (r) => (r.url.endsWith('/sendData') ? { status: 200, json: { success: true, dados: { id: '1' } } } : { status: 204 }) });
  p.RB.sendData({ emailPrincipal: 'a@b.c' }, () => {
    throw new Error('page bug');
  });
  p.RB.sendEvent({ tipo: '1' });
  p.RB.getData(() => {
    throw new Error('page bug');
  });
  p.RB.navigate(() => {
    throw new Error('page bug');
  });
  await settle();
});

test('odd arguments never throw', async () => {
  const p = page();
  for (const fn of Object.keys(p.RB)) {
    for (const args of [[], [null], [undefined, 1, 'x'], [{}, {}, {}], [[null, 5]], [Symbol('x')]]) p.RB[fn](...args);
  }
  await settle();
});
