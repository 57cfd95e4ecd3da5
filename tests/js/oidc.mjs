// A real OpenID Connect provider for the tests: panva's oidc-provider, issuing JWT access tokens
// for the service's audience (a resource indicator).
//
//   node oidc.mjs PORT AUDIENCE PAGE_ORIGIN
//
// Each start signs with a new key under a new kid, so a restart is a key rotation. Clients:
// - `alice`, `bob`, `carol`, `user-1`..`user-20`: client credentials (secret `secret`); a token's
//   `sub` is the client's id, so each client is one signed-in user for the service.
// - `short-lived`: the same, with tokens that live 3 seconds.
// - `frontend`: a public client (PKCE, no secret) whose redirect URI is PAGE_ORIGIN/callback, for
//   the authorization-code flow through the provider's own login form in a browser.
// Prints one line, `{"issuer": ..., "kid": ...}`, once it listens.
import * as crypto from 'node:crypto';

import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

const [port, audience, pageOrigin] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
// The audience a test asks for to get a token the service must refuse.
const otherAudience = 'https://other-api.example';

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const kid = `k-${crypto.randomUUID()}`;
const signingKey = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };

const users = ['alice', 'bob', 'carol', 'short-lived'];
for (let n = 1; n <= 20; n += 1) users.push(`user-${n}`);

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clients: [
    ...users.map((id) => ({
      client_id: id,
      client_secret: 'secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    })),
    {
      client_id: 'frontend',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [`${pageOrigin}/callback`],
    },
  ],
  // The page calls the token endpoint from its own origin.
  clientBasedCORS: (ctx, origin, client) =>
    client.redirectUris.some((uri) => new URL(uri).origin === origin),
  findAccount: (ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, name: `User ${id}` }),
  }),
  scopes: ['openid', 'chats'],
  features: {
    devInteractions: { enabled: true }, // the provider's own login form: any login and password
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => {
        if (resource !== audience && resource !== otherAudience) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: 'chats',
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: client.clientId === 'short-lived' ? 3 : 300,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  pkce: { required: () => true },
});

const server = provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ issuer, kid })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
