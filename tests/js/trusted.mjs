// A frontend with a persisted query list, as Apollo's documentation sets it up: the operations in
// frontend/*.graphql, their manifest written by @apollo/generate-persisted-query-manifest (and
// published with `chats-api documents publish`), and Apollo Client 4 sending them by id through the
// persisted-query link with @apollo/persisted-query-lists' ids; subscriptions over GraphQLWsLink.
// Then what a hostile page could try with the same signed-in user's token: an arbitrary document
// over HTTP, registering it as an automatic persisted query, and over the WebSocket.
// Usage: node trusted.mjs http://127.0.0.1:8000/graphql TOKEN KEY MANIFEST
// Prints one JSON object; tests/system/test_trusted_documents.py checks it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { generatePersistedQueryIdsFromManifest } from '@apollo/persisted-query-lists';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [uri, token, key, manifestPath] = process.argv.slice(2);
setTimeout(() => { console.error('timed out'); process.exit(2); }, 40_000);
const operation = (name) => gql(readFileSync(new URL(`frontend/${name}.graphql`, import.meta.url), 'utf8'));
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));

const sent = [];
const recordingFetch = async (input, init) => {
  const body = init?.body ? JSON.parse(init.body) : null;
  sent.push({ hasQuery: Boolean(body?.query), hash: body?.extensions?.persistedQuery?.sha256Hash ?? null });
  return fetch(input, init);
};
const authorization = `Bearer ${token}`;
const wsClient = createClient({
  url: uri.replace(/^http/, 'ws'),
  webSocketImpl: WebSocket,
  connectionParams: { authorization },
});
const persisted = new PersistedQueryLink(
  generatePersistedQueryIdsFromManifest({ loadManifest: () => manifest }),
);
const link = ApolloLink.split(
  ({ query }) => {
    const definition = getMainDefinition(query);
    return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
  },
  new GraphQLWsLink(wsClient),
  ApolloLink.from([persisted, new HttpLink({ uri, headers: { authorization }, fetch: recordingFetch })]),
);
const apollo = new ApolloClient({ link, cache: new InMemoryCache() });
const result = {};

// The subscription first, then the mutation it should hear about.
const acknowledged = new Promise((resolve) => wsClient.on('connected', resolve));
const heard = new Promise((resolve, reject) => {
  apollo.subscribe({ query: operation('ChatEvents') }).subscribe({
    next: ({ data, error }) => (error ? reject(error) : resolve(data.chatEvents)),
    error: reject,
  });
});
await acknowledged;
await new Promise((resolve) => setTimeout(resolve, 300));

result.me = (await apollo.query({ query: operation('Me') })).data.viewer.account;
const created = await apollo.mutate({
  mutation: operation('CreateChat'),
  variables: { input: { topic: 'Trusted' } },
});
result.created = created.data.createChat.chat;
result.read = (await apollo.query({ query: operation('Chat'), variables: { id: result.created.id } })).data.chat;
const event = await heard;
result.event = { type: event.type, title: event.chat.title };
result.sent = sent;

// The same token, documents nobody published.
const arbitrary = 'mutation Sneaky { createChat(input: {topic: "sneaky"}) { chat { id } } }';
async function post(body, credentials) {
  const response = await fetch(uri, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...credentials },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}
result.arbitrary = await post({ query: arbitrary }, { authorization });
const sha256Hash = createHash('sha256').update(arbitrary).digest('hex');
result.registering = await post(
  { query: arbitrary, extensions: { persistedQuery: { version: 1, sha256Hash } } },
  { authorization },
);
result.socket = await new Promise((resolve) => {
  wsClient.subscribe(
    { query: 'subscription Sneaky { chatEvents { type chat { id title accountId } } }' },
    {
      next: (value) => resolve({ next: value }),
      error: (errors) => resolve({ error: errors }),
      complete: () => resolve({ complete: true }),
    },
  );
});
// A script with an API key runs anything.
result.withKey = await post({ query: arbitrary }, { 'x-api-key': key });

await wsClient.dispose();
console.log(JSON.stringify(result));
process.exit(0);
