// The peer in govtrust's identity-provider benchmarks: a minimal node-oidc-provider (v8).
//
// Configured like govtrust's demo: the same two clients (ids, secrets, grant types,
// client_secret_basic, redirect URI, scopes), ES256 everywhere (a P-256 key generated at
// start), JWT access tokens (RFC 9068) through the resource indicators feature, introspection,
// refresh-token rotation on every use, and a minimal login + consent interaction whose login
// verifies an argon2id hash made with govtrust's production parameters (t=3, 64 MiB, p=4).
// Storage is the package's in-memory adapter (an LRU of 1000 entries, nothing durable).
//
// Everything comes from the environment (bench/run.py sets it):
//   PEER_PORT, PEER_ISSUER, PEER_SERVICE_ID, PEER_SERVICE_SECRET, PEER_SERVICE_SCOPE,
//   PEER_WEB_ID, PEER_WEB_SECRET, PEER_WEB_REDIRECT, PEER_USERNAME, PEER_PASSWORD, and
//   PEER_MORE_USERNAMES (optional, comma-separated: more accounts with the same password,
//   one per concurrent login, as govtrust's load logs in as several people)
// It listens on 127.0.0.1 only and prints "ready <issuer>" when it accepts requests.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { parse as parseQuery } from 'node:querystring';

import argon2 from 'argon2';
import Provider from 'oidc-provider';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const PORT = Number(env('PEER_PORT'));
const ISSUER = env('PEER_ISSUER');
const API = 'urn:govtrust:bench:api';
const SERVICE_SCOPE = env('PEER_SERVICE_SCOPE');
const USERNAMES = new Set([
  env('PEER_USERNAME'),
  ...(process.env.PEER_MORE_USERNAMES ?? '').split(',').filter(Boolean),
]);
const ARGON2 = { type: argon2.argon2id, timeCost: 3, memoryCost: 64 * 1024, parallelism: 4 };
const PASSWORD_HASH = await argon2.hash(env('PEER_PASSWORD'), ARGON2);

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'bench-es256' };

const configuration = {
  clients: [
    {
      client_id: env('PEER_SERVICE_ID'),
      client_secret: env('PEER_SERVICE_SECRET'),
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: SERVICE_SCOPE,
    },
    {
      client_id: env('PEER_WEB_ID'),
      client_secret: env('PEER_WEB_SECRET'),
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [env('PEER_WEB_REDIRECT')],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      scope: 'openid profile offline_access',
    },
  ],
  jwks: { keys: [signingKey] },
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  scopes: ['openid', 'profile', 'offline_access', SERVICE_SCOPE],
  claims: { openid: ['sub'], profile: ['name'] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  pkce: { required: () => true, methods: ['S256'] },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 14 * 24 * 3600,
    RefreshToken: 14 * 24 * 3600,
  },
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource !== API) throw new Provider.errors.InvalidTarget();
        return {
          scope: `${SERVICE_SCOPE} profile`,
          audience: ISSUER,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  // Refresh tokens for the code client without prompt=consent, rotated on every use
  // (govtrust rotates every refresh token).
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  rotateRefreshToken: () => true,
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, name: '张三' }),
  }),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError: (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
};

const provider = new Provider(ISSUER, configuration);
provider.proxy = false;

const page = (title, body) => `<!doctype html><html><head><meta charset="utf-8">
<title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;

const readForm = async (req) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return parseQuery(Buffer.concat(chunks).toString('utf8'));
};

// The interaction: GET /interaction/:uid renders the login or the consent form;
// POST .../login checks the password (argon2id); POST .../confirm records the grant.
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login|confirm))?$/.exec(ctx.path);
  if (!match) return next();
  const [, uid, action] = match;
  ctx.set('cache-control', 'no-store');
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
  const { prompt, params, session } = details;
  if (ctx.method === 'GET' && !action) {
    ctx.type = 'html';
    if (prompt.name === 'login') {
      ctx.body = page('Sign-in', `<form method="post" action="/interaction/${uid}/login">
<input type="text" name="username" required><input type="password" name="password" required>
<button type="submit">Sign-in</button></form>`);
    } else {
      ctx.body = page('Authorize', `<form method="post" action="/interaction/${uid}/confirm">
<button type="submit" name="consent" value="allow">Allow</button></form>`);
    }
    return undefined;
  }
  if (ctx.method !== 'POST' || !action) ctx.throw(405);
  const form = await readForm(ctx.req);
  if (action === 'login') {
    if (prompt.name !== 'login') ctx.throw(400, 'not at login');
    const username = String(form.username ?? '');
    const ok = USERNAMES.has(username)
      && (await argon2.verify(PASSWORD_HASH, String(form.password ?? '')));
    if (!ok) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = page('Sign-in', '<p>wrong username or password</p>');
      return undefined;
    }
    await provider.interactionFinished(ctx.req, ctx.res, {
      login: { accountId: username },
    }, { mergeWithLastSubmission: false });
    return undefined;
  }
  if (prompt.name !== 'consent' || form.consent !== 'allow') ctx.throw(400, 'not at consent');
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  await provider.interactionFinished(ctx.req, ctx.res, {
    consent: { grantId: await grant.save() },
  }, { mergeWithLastSubmission: true });
  return undefined;
});

provider.listen(PORT, '127.0.0.1', () => {
  console.log(`ready ${ISSUER}`);
});
