// A user signs in as a frontend does it: a page on its own origin sends Debian's Chromium through
// the identity provider's authorization-code flow with PKCE (the provider's own login form), gets
// an access token, and calls the service with it (CORS preflight included): who am I, a chat
// created over REST, the same over GraphQL. (The CORS preflights are seen in the service's log.)
// Usage: node signin.mjs SERVICE_BASE ISSUER AUDIENCE PAGE_PORT ARTIFACTS_DIR
// Prints one JSON object; tests/system/test_signed_in.py checks it.
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';

import { launchChromium } from './browser.mjs';

const [service, issuer, audience, pagePort, artifacts] = process.argv.slice(2);
const origin = `http://127.0.0.1:${pagePort}`;
mkdirSync(artifacts, { recursive: true });
setTimeout(() => { console.error('timed out'); process.exit(2); }, 60_000);

// The frontend: one page, no library. PKCE by the book (RFC 7636, S256).
const PAGE = `<!doctype html><meta charset="utf-8"><title>Frontend</title><pre id="result">…</pre>
<script type="module">
const issuer = ${JSON.stringify(issuer)}, service = ${JSON.stringify(service)};
const audience = ${JSON.stringify(audience)}, redirect = location.origin + '/callback';
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
const show = (value) => { document.getElementById('result').textContent = JSON.stringify(value); };
if (location.pathname === '/') {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem('pkce', JSON.stringify({ verifier, state }));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  location.assign(issuer + '/auth?' + new URLSearchParams({
    client_id: 'frontend', response_type: 'code', redirect_uri: redirect, scope: 'openid chats',
    code_challenge: challenge, code_challenge_method: 'S256', state, resource: audience,
  }));
} else {
  const { verifier, state } = JSON.parse(sessionStorage.getItem('pkce'));
  const params = new URLSearchParams(location.search);
  if (params.get('state') !== state) throw new Error('state mismatch');
  const tokens = await (await fetch(issuer + '/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: params.get('code'), redirect_uri: redirect,
      client_id: 'frontend', code_verifier: verifier, resource: audience,
    }),
  })).json();
  const auth = { authorization: 'Bearer ' + tokens.access_token };
  const me = await fetch(service + '/api/accounts/me', { headers: auth });
  const created = await fetch(service + '/api/chats', {
    method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ topic: 'From the browser' }),
  });
  const graphql = await fetch(service + '/graphql', {
    method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation { createChat(input: {topic: "Over GraphQL"}) { chat { title accountId } } }' }),
  });
  show({
    tokenType: tokens.token_type,
    me: { status: me.status, body: await me.json() },
    created: { status: created.status, body: await created.json() },
    graphql: { status: graphql.status, body: await graphql.json() },
  });
}
</script>`;
const server = createServer((request, response) => {
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  response.end(PAGE);
});
await new Promise((resolve) => server.listen(Number(pagePort), '127.0.0.1', resolve));

const result = { offsite: [], pageErrors: [] };
const browser = await launchChromium();
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  // Recorded, not intercepted: with interception on, Chromium would skip the CORS preflights
  // this test is about. This machine reaches nothing beyond 127.0.0.1 anyway.
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.hostname !== '127.0.0.1' && url.protocol !== 'data:') result.offsite.push(url.href);
  });
  page.on('pageerror', (error) => result.pageErrors.push(String(error)));
  await page.goto(`${origin}/`);
  // The provider's login form (oidc-provider's development interactions).
  await page.waitForSelector('input[name="login"]', { timeout: 20_000 });
  result.loginPage = new URL(page.url()).origin;
  await page.fill('input[name="login"]', 'ada');
  await page.fill('input[name="password"]', 'any password');
  await page.screenshot({ path: `${artifacts}/signin-login.png` });
  await page.click('button[type="submit"]');
  // Back at the page, through the provider's consent screen where it shows one.
  for (let step = 0; new URL(page.url()).origin !== origin; step += 1) {
    if (step === 3) throw new Error(`stuck at ${page.url()}: ${await page.content()}`);
    await page.waitForLoadState();
    if (new URL(page.url()).origin === origin) break;
    await page.screenshot({ path: `${artifacts}/signin-consent.png` });
    await page.click('button[type="submit"]');
    await page.waitForURL((url) => url.origin === origin, { timeout: 5_000 }).catch(() => {});
  }
  await page.waitForFunction(() => document.getElementById('result')?.textContent !== '…', null, { timeout: 20_000 });
  result.page = JSON.parse(await page.textContent('#result'));
  result.callback = new URL(page.url()).pathname;
  await page.screenshot({ path: `${artifacts}/signin-result.png` });
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(result));
process.exit(0);
