// Keycloak's CIBA HTTP authentication channel, answered on loopback: the "authentication device"
// of the Keycloak peer. See bench/peers/README.md. No dependencies (Node ≥ 18).
//
//   AUTH_CHANNEL_PORT=8998 node auth-channel.mjs
//
// Keycloak (HttpAuthenticationChannelProvider, keycloak-services 26.7.3) POSTs each backchannel
// authentication request to --spi-ciba-auth-channel--ciba-http-auth-channel--http-authentication-channel-uri
// with `Authorization: Bearer <token>` and a JSON body {scope, binding_message, login_hint,
// is_consent_required, acr_values, …}, and answers the client only after this receiver answered:
// 201 means "the device was reached" (anything else: Keycloak answers 503). Keycloak stores the
// request *after* the 201, so a decision must come after the answer (this receiver retries a 403
// a few times).
//
// A decision is Keycloak's callback (BackchannelAuthenticationCallbackEndpoint):
//   POST <iss>/protocol/openid-connect/ext/ciba/auth/callback
//   Authorization: Bearer <the same token>, JSON {"status": "SUCCEED" | "UNAUTHORIZED" | "CANCELLED"}
// (200 when taken; 403 "Invalid token" when unknown, expired or already decided — and Keycloak
// then cancels the request, so each token is used once). <iss> is the token's own `iss` claim,
// the realm's issuer URL as Keycloak sees itself.
//
// Environment:
//   AUTH_CHANNEL_PORT   listening port on 127.0.0.1 (default 8998)
//   AUTO_APPROVE_MS     when set (integer ≥ 0): requests for login hints matching AUTO_APPROVE_HINTS
//                       are approved that many ms after the 201; unset: only POST /_approve decides
//   AUTO_APPROVE_HINTS  regular expression (default ^decider-)
//   KEEP_SECONDS        how long undecided requests are kept for /_approve (default 300, the realm's
//                       cibaExpiresIn)
//
// Admin (loopback, for the load client):
//   POST /_approve?login_hint=decider-3[&status=SUCCEED]  decides every kept request of that hint
//   POST /_approve?binding_message=X                     … of that binding_message
//   POST /_approve                                       … all kept requests
//   answers {"approved": n, "failed": m}; GET /_pending answers {"pending": n, "received": total}.
// Requests for hints that AUTO_APPROVE_HINTS does not match are only kept when AUTO_APPROVE_MS is
// unset or does not match them (flood users' requests, kept so that they can be decided too).

import { createServer } from 'node:http';

const PORT = Number(process.env.AUTH_CHANNEL_PORT ?? 8998);
const AUTO_APPROVE_MS = process.env.AUTO_APPROVE_MS === undefined || process.env.AUTO_APPROVE_MS === ''
  ? null : Number(process.env.AUTO_APPROVE_MS);
const AUTO_APPROVE_HINTS = new RegExp(process.env.AUTO_APPROVE_HINTS ?? '^decider-');
const KEEP_MS = Number(process.env.KEEP_SECONDS ?? 300) * 1000;

// Undecided requests: {token, iss, loginHint, bindingMessage, at}, in arrival order.
let kept = [];
let received = 0;

function claims(token) {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
  } catch {
    return {};
  }
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// Keycloak's callback; retries 403 while Keycloak may not have stored the request yet.
async function decide(entry, status = 'SUCCEED') {
  const url = `${entry.iss}/protocol/openid-connect/ext/ciba/auth/callback`;
  for (let attempt = 0; ; attempt += 1) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${entry.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ status }),
    });
    await res.arrayBuffer();
    if (res.status === 200) return;
    if (res.status !== 403 || attempt >= 5) throw new Error(`callback answered ${res.status}`);
    await sleep(10 * 2 ** attempt);
  }
}

function prune() {
  const limit = Date.now() - KEEP_MS;
  if (kept.length && kept[0].at < limit) kept = kept.filter((e) => e.at >= limit);
}

async function readBody(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

function send(res, status, body) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

async function channel(req, res) {
  const auth = req.headers.authorization ?? '';
  const body = await readBody(req);
  if (!auth.startsWith('Bearer ')) return send(res, 400, { error: 'no bearer token' });
  let request = {};
  try {
    request = JSON.parse(body || '{}');
  } catch {
    return send(res, 400, { error: 'invalid JSON' });
  }
  const token = auth.slice('Bearer '.length);
  const entry = {
    token,
    iss: claims(token).iss,
    loginHint: request.login_hint,
    bindingMessage: request.binding_message,
    at: Date.now(),
  };
  received += 1;
  if (!entry.iss) return send(res, 400, { error: 'token without iss' });
  const auto = AUTO_APPROVE_MS !== null && AUTO_APPROVE_HINTS.test(entry.loginHint ?? '');
  if (auto) {
    res.on('finish', () => {
      setTimeout(() => decide(entry).catch((err) => console.error('auto-approve', entry.loginHint, err.message)), AUTO_APPROVE_MS);
    });
  } else {
    prune();
    kept.push(entry);
  }
  return send(res, 201, {});
}

async function approve(req, res, url) {
  const hint = url.searchParams.get('login_hint');
  const message = url.searchParams.get('binding_message');
  const status = url.searchParams.get('status') ?? 'SUCCEED';
  if (!['SUCCEED', 'UNAUTHORIZED', 'CANCELLED'].includes(status)) return send(res, 400, { error: 'status: SUCCEED, UNAUTHORIZED or CANCELLED' });
  await readBody(req);
  prune();
  const match = (e) => (hint === null || e.loginHint === hint) && (message === null || e.bindingMessage === message);
  const chosen = kept.filter(match);
  kept = kept.filter((e) => !match(e));
  const results = await Promise.allSettled(chosen.map((e) => decide(e, status)));
  const approved = results.filter((r) => r.status === 'fulfilled').length;
  for (const r of results) if (r.status === 'rejected') console.error('decide', r.reason.message);
  return send(res, 200, { approved, failed: chosen.length - approved });
}

const server = createServer((req, res) => {
  const url = new URL(req.url, `http://127.0.0.1:${PORT}`);
  const handle = (promise) => promise.catch((err) => send(res, 500, { error: err.message }));
  if (req.method === 'POST' && url.pathname === '/_approve') return handle(approve(req, res, url));
  if (req.method === 'GET' && url.pathname === '/_pending') {
    prune();
    return send(res, 200, { pending: kept.length, received });
  }
  if (req.method === 'POST') return handle(channel(req, res));
  return send(res, 405, { error: 'POST' });
});
server.keepAliveTimeout = 60_000;
server.listen(PORT, '127.0.0.1', () => {
  console.log(`CIBA authentication channel on http://127.0.0.1:${PORT}/auth-channel (auto-approve: ${AUTO_APPROVE_MS ?? 'off'})`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
