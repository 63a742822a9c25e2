// node-oidc-provider (panva/oidc-provider, pinned in package.json) with CIBA, as a peer for the
// load benchmark. See bench/peers/README.md.
//
//   PORT=3000 node server.mjs
//
// Environment:
//   PORT               listening port on 127.0.0.1 (default 3000); the issuer is http://127.0.0.1:$PORT
//   PING_ENDPOINT      the ping client's backchannel_client_notification_endpoint
//                      (default https://127.0.0.1:8999/ping; see "Pings" below)
//   AUTO_APPROVE_MS    when set (an integer ≥ 0), requests for users named decider-* are approved
//                      that many ms after the backchannel request; unset: only POST /_approve does
//   FLOOD_USERS, DECIDERS   how many users flood-0… and decider-0… exist (default 64 and 256: one decider per worker at 256 connections)
//   MEMORY_MAX_ENTRIES capacity of the in-memory store (default 2000000, see "Storage")
//   ADMIN_TOKEN        bearer token required on /_approve (default: none required; loopback only)
//
// Storage: oidc-provider's own in-memory adapter (lib/adapters/memory_adapter.js), nothing else.
// Nothing survives a restart. Left to itself, oidc-provider gives that adapter an LRU store of
// 1000 entries (createMemoryAdapter), which evicts pending requests under load (smoke.mjs saw
// 1000 of 2000 left), so the adapter is configured explicitly: the same MemoryAdapter class on the
// same LRU class, with MEMORY_MAX_ENTRIES entries (the LRU keeps between N and 2N).
//
// Approval: POST /_approve/<auth_req_id> (optional JSON {"decision":"deny"}) on the same port,
// or POST /_approve with {"auth_req_ids":[...]} for many, or with {"login_hint":"decider-3"} for
// every undecided request of that decider-* user (like the authenticator SDK's pending() then
// approve, in ciba-load's "ready" phase); each creates a Grant for the request's
// account and client with the requested scope and calls provider.backchannelResult(request, grant)
// (deny: backchannelResult(request, new errors.AccessDenied())). Answers 204 (single) or
// {"approved": n, "failed": m}.
//
// Pings: oidc-provider only registers https backchannel_client_notification_endpoint values, and
// its outgoing fetch refuses special-use addresses (loopback included). For the benchmark only, the
// `fetch` below sends requests to a loopback https URL over plain HTTP to the same host and port,
// without the special-use address check; any other URL goes through oidc-provider's fetch as is.
// (ciba-server's bench configuration does the same with allow_plain_http/allow_private_networks.)

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

const PORT = Number(process.env.PORT ?? 3000);
const HOST = '127.0.0.1';
const ISSUER = `http://${HOST}:${PORT}`;
const PING_ENDPOINT = process.env.PING_ENDPOINT ?? 'https://127.0.0.1:8999/ping';
const AUTO_APPROVE_MS = process.env.AUTO_APPROVE_MS === undefined || process.env.AUTO_APPROVE_MS === ''
  ? null : Number(process.env.AUTO_APPROVE_MS);
const FLOOD_USERS = Number(process.env.FLOOD_USERS ?? 64);
const DECIDERS = Number(process.env.DECIDERS ?? 256);
const ADMIN_TOKEN = process.env.ADMIN_TOKEN ?? '';
const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

// oidc-provider's MemoryAdapter (what it uses when no adapter is configured), on one store of
// MEMORY_MAX_ENTRIES instead of the 1000 its createMemoryAdapter() gives each provider.
const store = new LRU({ maxSize: Number(process.env.MEMORY_MAX_ENTRIES ?? 2_000_000) });
const adapter = (model) => new MemoryAdapter(model, store, 0);

// Accounts: a fixed set, looked up by login_hint (the username) in a Map.
const accounts = new Map();
for (let i = 0; i < FLOOD_USERS; i += 1) accounts.set(`flood-${i}`, { sub: `flood-${i}` });
for (let i = 0; i < DECIDERS; i += 1) accounts.set(`decider-${i}`, { sub: `decider-${i}` });

// Signing keys, new at each start: ES256 (ciba-server's default) and RS256 (the OIDC default alg).
const jwk = (options, type, alg) => ({
  ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
  alg,
  use: 'sig',
  kid: `${alg.toLowerCase()}-${randomBytes(4).toString('hex')}`,
});
const jwks = {
  keys: [
    jwk({ namedCurve: 'P-256' }, 'ec', 'ES256'),
    jwk({ modulusLength: 2048 }, 'rsa', 'RS256'),
  ],
};

const isLoopback = (hostname) => ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(hostname);

const clients = [
  {
    client_id: 'bench-poll',
    client_secret: 'bench-poll-secret-0123456789abcdef0123456789abcdef',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [CIBA_GRANT],
    response_types: [],
    redirect_uris: [],
    backchannel_token_delivery_mode: 'poll',
    id_token_signed_response_alg: 'ES256',
  },
  {
    client_id: 'bench-ping',
    client_secret: 'bench-ping-secret-0123456789abcdef0123456789abcdef',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [CIBA_GRANT],
    response_types: [],
    redirect_uris: [],
    backchannel_token_delivery_mode: 'ping',
    backchannel_client_notification_endpoint: PING_ENDPOINT,
    id_token_signed_response_alg: 'ES256',
  },
];

let provider;
// decider-* → auth_req_ids not yet decided (only without AUTO_APPROVE_MS; flood-* are not kept).
const pendingByUser = new Map();

// A Grant for the request's account and client, with the scope it asked for; then the result.
async function approve(request, decision = 'approve') {
  if (typeof request === 'string') {
    request = await provider.BackchannelAuthenticationRequest.find(request, { ignoreExpiration: true });
    if (!request) throw new Error('BackchannelAuthenticationRequest not found');
  }
  pendingByUser.get(request.accountId)?.delete(request.jti);
  if (request.grantId || request.error) throw new Error('already decided');
  if (decision === 'deny') {
    await provider.backchannelResult(request, new errors.AccessDenied('the user denied the request'));
    return;
  }
  const grant = new provider.Grant({ accountId: request.accountId, clientId: request.clientId });
  grant.addOIDCScope(request.scope);
  if (request.claims) grant.addOIDCClaims(Object.keys({ ...request.claims.id_token, ...request.claims.userinfo }));
  for (const resource of [request.resource ?? []].flat()) grant.addResourceScope(resource, request.scope);
  await grant.save();
  await provider.backchannelResult(request, grant, {
    authTime: Math.floor(Date.now() / 1000),
    amr: ['swk'],
  });
}

const configuration = {
  adapter,
  clients,
  jwks,
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  // Lifetimes, set explicitly (oidc-provider prints a notice for each default used): a request
  // lives 300 s like ciba-server's default_expiry (oidc-provider's default is 600 s), or
  // requested_expiry if shorter; the rest are oidc-provider's defaults (access and ID tokens 1 h).
  ttl: {
    BackchannelAuthenticationRequest: (ctx) => Math.min(300, Number(ctx?.oidc?.params.requested_expiry) || 300),
    Grant: () => 14 * 24 * 60 * 60,
    AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || 3600,
    IdToken: () => 3600,
  },
  async findAccount(ctx, sub) {
    if (!accounts.has(sub)) return undefined;
    return { accountId: sub, async claims() { return { sub }; } };
  },
  features: {
    devInteractions: { enabled: false },
    ciba: {
      enabled: true,
      deliveryModes: ['poll', 'ping'],
      // login_hint is the username; an unknown one makes oidc-provider answer unknown_user_id.
      async processLoginHint(ctx, loginHint) {
        return accounts.has(loginHint) ? loginHint : undefined;
      },
      async processLoginHintToken() {
        throw new errors.InvalidRequest('login_hint_token is not supported by this peer');
      },
      // No user_code: backchannel_user_code_parameter is false for these clients.
      async verifyUserCode(ctx, account, userCode) {
        if (userCode) throw new errors.InvalidRequest('user_code is not supported by this peer');
      },
      // oidc-provider's default check, kept: 1–20 characters of a basic set.
      async validateBindingMessage(ctx, bindingMessage) {
        if (bindingMessage?.match(/^[a-zA-Z0-9-._+/!?#]{1,20}$/) === null) {
          throw new errors.InvalidBindingMessage('the binding_message must be 1–20 characters of [a-zA-Z0-9-._+/!?#]');
        }
      },
      async validateRequestContext() {},
      // The "device": nothing is sent anywhere. With AUTO_APPROVE_MS, decider-* requests are
      // approved after that delay (outside the request, so the answer does not wait for it).
      async triggerAuthenticationDevice(ctx, request, account) {
        const id = request.jti;
        if (AUTO_APPROVE_MS !== null && account.accountId.startsWith('decider-')) {
          setTimeout(() => approve(id).catch((err) => console.error('auto-approve', id, err.message)), AUTO_APPROVE_MS);
        } else if (account.accountId.startsWith('decider-')) {
          // What the user's "device" has pending, for POST /_approve {"login_hint": …}.
          if (!pendingByUser.has(account.accountId)) pendingByUser.set(account.accountId, new Set());
          pendingByUser.get(account.accountId).add(id);
        }
      },
    },
  },
  // Benchmark-only: loopback https pings go out over plain HTTP (see the header).
  async fetch(url, options) {
    const target = new URL(url);
    if (target.protocol === 'https:' && isLoopback(target.hostname)) {
      target.protocol = 'http:';
      delete options.dispatcher;
      return globalThis.fetch(target.href, options);
    }
    return globalThis.fetch(url, options);
  },
};

provider = new Provider(ISSUER, configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('backchannel.error', (ctx, err) => console.error('backchannel.error', err.message));

const oidc = provider.callback();

async function readJson(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body ? JSON.parse(body) : {};
}

function send(res, status, body) {
  if (body === undefined) {
    res.writeHead(status).end();
  } else {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  }
}

async function admin(req, res) {
  if (req.method !== 'POST') return send(res, 405, { error: 'method_not_allowed' });
  if (ADMIN_TOKEN && req.headers.authorization !== `Bearer ${ADMIN_TOKEN}`) return send(res, 401, { error: 'unauthorized' });
  let body;
  try {
    body = await readJson(req);
  } catch {
    return send(res, 400, { error: 'invalid_json' });
  }
  const decision = body.decision === 'deny' ? 'deny' : 'approve';
  const path = new URL(req.url, ISSUER).pathname;
  if (path.startsWith('/_approve/')) {
    try {
      await approve(decodeURIComponent(path.slice('/_approve/'.length)), decision);
      return send(res, 204);
    } catch (err) {
      return send(res, 404, { error: 'not_found', error_description: err.message });
    }
  }
  let ids = Array.isArray(body.auth_req_ids) ? body.auth_req_ids : [];
  if (typeof body.login_hint === 'string') ids = [...(pendingByUser.get(body.login_hint) ?? [])];
  const results = await Promise.allSettled(ids.map((id) => approve(String(id), decision)));
  const approved = results.filter((r) => r.status === 'fulfilled').length;
  return send(res, 200, { approved, failed: ids.length - approved });
}

const server = createServer((req, res) => {
  if (req.url === '/_approve' || req.url.startsWith('/_approve/') || req.url.startsWith('/_approve?')) {
    admin(req, res).catch((err) => send(res, 500, { error: 'server_error', error_description: err.message }));
    return;
  }
  if (req.url === '/_health') return send(res, 200, { ok: true });
  return oidc(req, res);
});
server.keepAliveTimeout = 60_000;
server.listen(PORT, HOST, () => {
  console.log(`oidc-provider ${ISSUER} (CIBA poll+ping, in memory; auto-approve: ${AUTO_APPROVE_MS ?? 'off'})`);
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
