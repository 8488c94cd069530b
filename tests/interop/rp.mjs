// An independent relying party for govtrust, built on openid-client v6 (no hand-rolled OAuth).
//
// It discovers the provider, sends a person through the authorization code flow with PKCE
// S256, state and nonce (driving the provider's login pages as a browser would), redeems the
// code (openid-client checks the ID token's signature against the JWKS, iss, aud, exp, nonce,
// at_hash, and the RFC 9207 `iss` authorization response parameter), fetches userinfo,
// refreshes, introspects, revokes the refresh token and checks that it no longer works.
//
// Other flows (--flow or RP_FLOW):
//   code      (default) the above;
//   par-dpop  the code flow with a pushed authorization request (RFC 9126) and DPoP-bound
//             tokens (RFC 9449; openid-client answers the server's use_dpop_nonce itself),
//             then userinfo with a DPoP proof, and a second use of the request_uri;
//   device    the device authorization grant (RFC 8628) as a kiosk, with DPoP: the person
//             approves on the verification page (driven here as a browser would) while
//             openid-client polls the token endpoint.
//
// Usage: node rp.mjs --issuer URL --client-id ID --client-secret SECRET \
//          --redirect-uri URI --username NAME --password PASSWORD \
//          [--auth-method client_secret_basic|client_secret_post] [--acting-as self|organisation|ID]
//          [--flow code|par-dpop|device]
// Every option may come from the environment instead: RP_ISSUER, RP_CLIENT_ID, ...
//
// Prints ONE JSON line: {"ok": true, ...results} and exits 0, or {"ok": false, "error": ...}
// and exits 1. It never prints the username, the password or the client secret.

import { parseArgs } from "node:util";
import * as client from "openid-client";

const OPTIONS = {
  issuer: "RP_ISSUER",
  "client-id": "RP_CLIENT_ID",
  "client-secret": "RP_CLIENT_SECRET",
  "redirect-uri": "RP_REDIRECT_URI",
  username: "RP_USERNAME",
  password: "RP_PASSWORD",
  "auth-method": "RP_AUTH_METHOD",
  "acting-as": "RP_ACTING_AS",
  flow: "RP_FLOW",
};
const SCOPE = "openid profile phone offline_access";

function settings() {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.keys(OPTIONS).map((name) => [name, { type: "string" }])),
  });
  const out = {};
  for (const [name, variable] of Object.entries(OPTIONS)) {
    out[name] = values[name] ?? process.env[variable];
  }
  out["auth-method"] ??= "client_secret_basic";
  out["acting-as"] ??= "self";
  out.flow ??= "code";
  const required = ["issuer", "client-id", "client-secret", "username", "password"];
  if (out.flow !== "device") required.push("redirect-uri");
  for (const name of required) {
    if (!out[name]) throw new Error(`missing --${name} (or ${OPTIONS[name]})`);
  }
  return out;
}

function clientAuth(method, secret) {
  switch (method) {
    case "client_secret_basic":
      return client.ClientSecretBasic(secret);
    case "client_secret_post":
      return client.ClientSecretPost(secret);
    default:
      throw new Error(`unsupported token endpoint auth method ${method}`);
  }
}

// --- The browser part: the provider's own HTML pages, not OAuth. -------------------------

class Browser {
  constructor() {
    this.cookies = new Map();
  }

  #remember(response) {
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(";");
      const index = pair.indexOf("=");
      if (index > 0) this.cookies.set(pair.slice(0, index).trim(), pair.slice(index + 1).trim());
    }
  }

  async request(url, init = {}) {
    const headers = new Headers(init.headers);
    if (this.cookies.size) {
      headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    }
    headers.set("accept-language", "zh-CN");
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    this.#remember(response);
    return response;
  }

  // A 303 answer: return the absolute URL it points to.
  static location(response, base) {
    if (response.status !== 303) {
      throw new Error(`expected 303 from ${base.pathname}, got ${response.status}`);
    }
    return new URL(response.headers.get("location"), base);
  }

  async submit(pageUrl, html, fields) {
    const action = /action="([^"]+)"/.exec(html);
    const csrf = /name="csrf" value="([^"]+)"/.exec(html);
    if (!action || !csrf) throw new Error(`no form on ${pageUrl.pathname}`);
    const target = new URL(action[1].replaceAll("&amp;", "&"), pageUrl);
    const response = await this.request(target, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ ...fields, csrf: csrf[1] }),
    });
    return Browser.location(response, target);
  }
}

// Follow the pages from the authorization URL until the provider redirects to the client.
async function logIn(authorizationUrl, redirectUri, { username, password, actingAs }) {
  const browser = new Browser();
  const pages = [];
  let url = Browser.location(await browser.request(authorizationUrl), authorizationUrl);
  for (let step = 0; step < 10; step += 1) {
    if (url.href.startsWith(redirectUri)) return { callbackUrl: url, pages };
    const response = await browser.request(url);
    if (response.status === 303) {
      url = Browser.location(response, url);
      continue;
    }
    const html = await response.text();
    if (response.status !== 200) throw new Error(`page ${url.pathname} answered ${response.status}`);
    if (html.includes('name="password"')) {
      pages.push("login");
      url = await browser.submit(url, html, { username, password });
    } else if (html.includes('name="acting_as"')) {
      pages.push("identity");
      // "organisation": the first organisation offered; otherwise "self" or an explicit id.
      const offered = [...html.matchAll(/name="acting_as" value="([^"]+)"/g)].map((m) => m[1]);
      const choice = actingAs === "organisation" ? offered.find((v) => v !== "self") : actingAs;
      if (!choice || !offered.includes(choice)) throw new Error(`cannot act as ${actingAs}`);
      url = await browser.submit(url, html, { acting_as: choice });
    } else if (html.includes('name="consent"')) {
      pages.push("consent");
      url = await browser.submit(url, html, { consent: "allow" });
    } else {
      throw new Error(`unexpected page at ${url.pathname}`);
    }
  }
  throw new Error("too many pages before the redirect to the client");
}

// --- Reporting. ---------------------------------------------------------------------------

function describe(error) {
  const out = { name: error?.name, message: error?.message };
  for (const key of ["code", "error", "error_description", "status"]) {
    if (error?.[key] !== undefined) out[key] = error[key];
  }
  if (error?.cause !== undefined && !(error.cause instanceof Error)) {
    out.cause = error.cause instanceof URLSearchParams ? Object.fromEntries(error.cause) : error.cause;
  } else if (error?.cause instanceof Error) {
    out.cause = describe(error.cause);
  }
  return out;
}

// The JWT access token's payload, for the report only (the RP does not rely on it).
function jwtPayload(token) {
  const parts = String(token).split(".");
  if (parts.length !== 3) return null;
  try {
    return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  } catch {
    return null;
  }
}

async function expectFailure(promise) {
  try {
    await promise;
    return { failed: false };
  } catch (error) {
    return { failed: true, ...describe(error) };
  }
}

// --- The relying party. -------------------------------------------------------------------

// The step under way, reported with an error.
let stage = "settings";

async function main() {
  const opts = settings();
  stage = "discovery";
  const issuer = new URL(opts.issuer);
  const execute = issuer.protocol === "http:" ? [client.allowInsecureRequests] : [];
  const config = await client.discovery(
    issuer,
    opts["client-id"],
    undefined,
    clientAuth(opts["auth-method"], opts["client-secret"]),
    { execute },
  );
  const metadata = config.serverMetadata();

  stage = "authorization request";
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: opts["redirect-uri"],
    scope: SCOPE,
    code_challenge: codeChallenge,
    code_challenge_method: "S256",
    state,
    nonce,
  });

  stage = "login pages";
  const { callbackUrl, pages } = await logIn(authorizationUrl, opts["redirect-uri"], {
    username: opts.username,
    password: opts.password,
    actingAs: opts["acting-as"],
  });
  const callbackParameters = [...callbackUrl.searchParams.keys()].sort();

  stage = "token endpoint (authorization_code)";
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const idClaims = tokens.claims();
  stage = "userinfo";
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub);

  stage = "token endpoint (refresh_token)";
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const refreshedClaims = refreshed.claims() ?? null;
  const newRefreshToken = refreshed.refresh_token ?? tokens.refresh_token;

  stage = "introspection";
  const introspection = {
    access_token: await client.tokenIntrospection(config, refreshed.access_token),
    refresh_token: await client.tokenIntrospection(config, newRefreshToken),
    old_refresh_token: await client.tokenIntrospection(config, tokens.refresh_token),
  };

  stage = "revocation";
  await client.tokenRevocation(config, newRefreshToken);
  const afterRevocation = {
    refresh_token: await client.tokenIntrospection(config, newRefreshToken),
    access_token: await client.tokenIntrospection(config, refreshed.access_token),
    refresh: await expectFailure(client.refreshTokenGrant(config, newRefreshToken)),
  };

  return {
    ok: true,
    issuer: metadata.issuer,
    pages,
    callback_parameters: callbackParameters,
    scope: tokens.scope,
    token_type: tokens.token_type,
    sub: idClaims.sub,
    id_token_claims: idClaims,
    access_token_claims: jwtPayload(tokens.access_token),
    userinfo,
    refresh: {
      new_access_token: refreshed.access_token !== tokens.access_token,
      new_refresh_token:
        typeof refreshed.refresh_token === "string" && refreshed.refresh_token !== tokens.refresh_token,
      id_token_claims: refreshedClaims,
      access_token_claims: jwtPayload(refreshed.access_token),
    },
    introspection,
    after_revocation: afterRevocation,
    errors: afterRevocation.refresh.failed ? [afterRevocation.refresh] : [],
  };
}

// --- PAR and DPoP (RFC 9126, RFC 9449). -----------------------------------------------------

async function configure(opts) {
  const issuer = new URL(opts.issuer);
  const execute = issuer.protocol === "http:" ? [client.allowInsecureRequests] : [];
  return client.discovery(
    issuer,
    opts["client-id"],
    undefined,
    clientAuth(opts["auth-method"], opts["client-secret"]),
    { execute },
  );
}

async function parDpop() {
  const opts = settings();
  stage = "discovery";
  const config = await configure(opts);
  const metadata = config.serverMetadata();
  const keyPair = await client.randomDPoPKeyPair("ES256");
  const DPoP = client.getDPoPHandle(config, keyPair);

  stage = "pushed authorization request";
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authorizationUrl = await client.buildAuthorizationUrlWithPAR(
    config,
    {
      redirect_uri: opts["redirect-uri"],
      scope: "openid profile",
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: "S256",
      state,
      nonce,
    },
    { DPoP },
  );
  const authorizationParameters = [...authorizationUrl.searchParams.keys()].sort();

  stage = "login pages";
  const { callbackUrl, pages } = await logIn(authorizationUrl, opts["redirect-uri"], {
    username: opts.username,
    password: opts.password,
    actingAs: opts["acting-as"],
  });
  stage = "request_uri reuse";
  const reused = await new Browser().request(authorizationUrl);

  stage = "token endpoint (authorization_code, DPoP)";
  const tokens = await client.authorizationCodeGrant(
    config,
    callbackUrl,
    { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
    undefined,
    { DPoP },
  );
  const idClaims = tokens.claims();
  stage = "userinfo (DPoP)";
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub, { DPoP });
  stage = "userinfo without the proof";
  const bearer = await fetch(metadata.userinfo_endpoint, {
    headers: { authorization: `Bearer ${tokens.access_token}` },
  });
  return {
    ok: true,
    flow: "par-dpop",
    authorization_parameters: authorizationParameters,
    pages,
    reused_request_uri_status: reused.status,
    token_type: tokens.token_type,
    sub: idClaims.sub,
    id_token_claims: idClaims,
    access_token_claims: jwtPayload(tokens.access_token),
    dpop_public_jwk: await crypto.subtle.exportKey("jwk", keyPair.publicKey),
    userinfo,
    bearer_userinfo_status: bearer.status,
  };
}

// --- The device authorization grant (RFC 8628). ------------------------------------------

async function approveDevice(verificationUri, { username, password }) {
  const browser = new Browser();
  let url = new URL(verificationUri);
  let response = await browser.request(url);
  let html = await response.text();
  if (html.includes('name="password"')) {
    url = await browser.submit(url, html, { username, password });
    response = await browser.request(url);
    html = await response.text();
  }
  if (!html.includes('name="decision"')) throw new Error(`no decision form at ${url.pathname}`);
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)[1];
  const userCode = /name="user_code" value="([^"]+)"/.exec(html)[1];
  const answered = await browser.request(new URL("/device/approve", url), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ user_code: userCode, decision: "allow", csrf }),
  });
  if (answered.status !== 200) throw new Error(`approval answered ${answered.status}`);
  return userCode;
}

async function device() {
  const opts = settings();
  stage = "discovery";
  const config = await configure(opts);
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair("ES256"));
  stage = "device authorization";
  const started = await client.initiateDeviceAuthorization(config, { scope: "openid profile" });
  stage = "verification page";
  const approval = approveDevice(started.verification_uri_complete, {
    username: opts.username,
    password: opts.password,
  });
  stage = "token endpoint (device_code, DPoP)";
  const [tokens, approvedCode] = await Promise.all([
    client.pollDeviceAuthorizationGrant(config, started, undefined, { DPoP }),
    approval,
  ]);
  const idClaims = tokens.claims();
  stage = "userinfo (DPoP)";
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub, { DPoP });
  stage = "device code reuse";
  const reuse = await expectFailure(client.pollDeviceAuthorizationGrant(config, started, undefined, { DPoP }));
  return {
    ok: true,
    flow: "device",
    user_code_matches: approvedCode === started.user_code,
    verification_uri: started.verification_uri,
    interval: started.interval,
    token_type: tokens.token_type,
    sub: idClaims.sub,
    id_token_claims: idClaims,
    access_token_claims: jwtPayload(tokens.access_token),
    userinfo,
    reuse,
  };
}

const FLOWS = { code: main, "par-dpop": parDpop, device };

try {
  const flow = FLOWS[settings().flow];
  if (!flow) throw new Error("unknown flow");
  const result = await flow();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ ok: false, stage, error: describe(error) })}\n`);
  process.exit(1);
}
