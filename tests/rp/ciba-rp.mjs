// A relying party on openid-client (an OpenID-certified library) running one CIBA flow against
// the server, as tests/rp.rs directs: discovery, the backchannel request (client_secret_basic or
// private_key_jwt; form parameters or a signed request object), then the token (poll mode, or
// after the ping in ping mode), with openid-client's own ID token validation. Reads its
// configuration from RP_CONFIG (JSON); prints one JSON line per step on stdout.
import http from 'node:http';
import * as client from 'openid-client';
import * as jose from 'jose';

const cfg = JSON.parse(process.env.RP_CONFIG);
const say = (line) => process.stdout.write(JSON.stringify(line) + '\n');

let key;
let auth;
if (cfg.auth === 'private_key_jwt') {
  key = await jose.importPKCS8(cfg.private_jwk.pem, 'ES256');
  auth = client.PrivateKeyJwt(key);
} else {
  auth = client.ClientSecretBasic(cfg.secret);
}
const config = await client.discovery(
  new URL(cfg.issuer),
  cfg.client_id,
  { id_token_signed_response_alg: 'ES256' },
  auth,
  { execute: [client.allowInsecureRequests] },
);

let pinged;
if (cfg.mode === 'ping') {
  const [host, port] = cfg.notification_addr.split(':');
  pinged = new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => { body += chunk; });
      req.on('end', () => {
        res.writeHead(204).end();
        server.close();
        if (req.headers.authorization !== `Bearer ${cfg.notification_token}`) {
          reject(new Error(`ping with ${req.headers.authorization}`));
        } else {
          resolve(JSON.parse(body));
        }
      });
    });
    server.listen(Number(port), host);
  });
}

let params = { scope: 'openid profile', login_hint: cfg.login_hint, binding_message: cfg.binding_message };
if (cfg.mode === 'ping') params.client_notification_token = cfg.notification_token;
if (cfg.signed_request) {
  const now = Math.floor(Date.now() / 1000);
  const request = await new jose.SignJWT(params)
    .setProtectedHeader({ alg: 'ES256', kid: cfg.private_jwk.kid })
    .setIssuer(cfg.client_id)
    .setAudience(cfg.issuer)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 300)
    .setJti(crypto.randomUUID())
    .sign(key);
  params = { request };
}
const started = await client.initiateBackchannelAuthentication(config, params);
say({ auth_req_id: started.auth_req_id, expires_in: started.expires_in });
if (pinged) {
  const ping = await pinged;
  if (ping.auth_req_id !== started.auth_req_id) throw new Error(`ping for ${ping.auth_req_id}`);
  say({ pinged: true });
}
const tokens = await client.pollBackchannelAuthenticationGrant(config, started);
const claims = tokens.claims();
say({ tokens: { token_type: tokens.token_type, scope: tokens.scope, sub: claims.sub, aud: claims.aud, iss: claims.iss } });

if (cfg.lifecycle) {
  // The rest of the token lifecycle, each through openid-client's own call and its checks.
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  say({ userinfo: { sub: info.sub, preferred_username: info.preferred_username } });
  const introspected = await client.tokenIntrospection(config, tokens.access_token);
  say({ introspection: { active: introspected.active, client_id: introspected.client_id, sub: introspected.sub } });
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const refreshedClaims = refreshed.claims();
  say({ refreshed: { sub: refreshedClaims.sub, rotated: refreshed.refresh_token !== tokens.refresh_token, scope: refreshed.scope } });
  let reused;
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
    reused = 'accepted';
  } catch (e) {
    reused = e.error ?? e.code ?? String(e);
  }
  say({ reuse: reused });
  const second = await client.refreshTokenGrant(config, refreshed.refresh_token).catch((e) => e);
  say({ after_reuse: second instanceof Error ? (second.error ?? String(second)) : 'accepted' });

  // A fresh grant's refresh token, revoked: then inactive, and its access token refused.
  await client.tokenRevocation(config, tokens.access_token);
  const revoked = await client.tokenIntrospection(config, tokens.access_token);
  let userinfoAfter;
  try {
    await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    userinfoAfter = 'accepted';
  } catch (e) {
    // A WWW-Authenticate challenge (RFC 6750 §3): its error parameter.
    userinfoAfter = e.cause?.[0]?.parameters?.error ?? e.error ?? e.code ?? String(e);
  }
  say({ revoked: { active: revoked.active, userinfo: userinfoAfter } });
}
