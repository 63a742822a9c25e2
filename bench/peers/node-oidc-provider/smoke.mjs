// Checks a running server.mjs end to end: node smoke.mjs [base] (default http://127.0.0.1:3000).
// backchannel → authorization_pending → POST /_approve → tokens → invalid_grant (used once);
// approve all of a user's by login_hint; deny → access_denied; then a small burst (2000 requests, 16 at a time, bounded) to check that
// none of the pending requests is evicted from the in-memory store. Exits non-zero on a mismatch.
import assert from 'node:assert/strict';

const base = process.argv[2] ?? 'http://127.0.0.1:3000';
const GRANT = 'urn:openid:params:grant-type:ciba';
const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const poll = basic('bench-poll', 'bench-poll-secret-0123456789abcdef0123456789abcdef');

async function form(path, params, authorization = poll) {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  return { status: res.status, body: await res.json() };
}
const start = (hint) => form('/backchannel', { scope: 'openid', login_hint: hint, binding_message: 'LOAD-1' });
const token = (id) => form('/token', { grant_type: GRANT, auth_req_id: id });
const decide = (id, decision = 'approve') => fetch(`${base}/_approve/${id}`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ decision }),
});

let r = await start('decider-0');
assert.equal(r.status, 200);
assert.equal(r.body.expires_in, 300);
assert.equal(r.body.interval, undefined, 'oidc-provider sends no interval');
const id = r.body.auth_req_id;
for (let i = 0; i < 3; i += 1) {
  r = await token(id);
  assert.equal(r.body.error, 'authorization_pending', 'polls in a row: pending, never slow_down');
}
assert.equal((await decide(id)).status, 204);
r = await token(id);
assert.equal(r.status, 200);
assert.ok(r.body.id_token && r.body.access_token);
assert.equal(JSON.parse(Buffer.from(r.body.id_token.split('.')[0], 'base64url')).alg, 'ES256');
assert.equal((await token(id)).body.error, 'invalid_grant', 'a redeemed request is consumed');

const mine = [(await start('decider-5')).body.auth_req_id, (await start('decider-5')).body.auth_req_id];
let all = await fetch(`${base}/_approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login_hint: 'decider-5' }) });
assert.deepEqual(await all.json(), { approved: 2, failed: 0 });
for (const x of mine) assert.equal((await token(x)).status, 200, 'approved by login_hint');

r = await start('flood-1');
assert.equal((await decide(r.body.auth_req_id, 'deny')).status, 204);
assert.equal((await token(r.body.auth_req_id)).body.error, 'access_denied');
assert.equal((await start('nobody')).body.error, 'unknown_user_id');

const ids = [];
let next = 0;
await Promise.all(Array.from({ length: 16 }, async () => {
  while (next < 2000) {
    next += 1;
    const { body } = await start(`flood-${next % 64}`);
    ids.push(body.auth_req_id);
  }
}));
let pending = 0;
for (const x of ids) if ((await token(x)).body.error === 'authorization_pending') pending += 1;
assert.equal(pending, ids.length, 'every request of the burst is still pending');
console.log(`smoke ok: pending → approved → tokens, deny, ${ids.length} pending requests all found`);
