// A frontend signed in with short-lived access tokens: Apollo Client 4 with GraphQLWsLink whose
// connectionParams asks the identity provider for a fresh token each time it connects, and an
// HttpLink that does the same for each request.
// Usage: node tokens.mjs http://127.0.0.1:8000/graphql ISSUER AUDIENCE
// The provider's `short-lived` client gets tokens that live 3 s (tests/js/oidc.mjs). Prints one
// JSON object; tests/system/test_signed_in.py checks it.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [uri, issuer, audience] = process.argv.slice(2);
setTimeout(() => { console.error('timed out'); process.exit(2); }, 40_000);

async function freshToken() {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from('short-lived:secret').toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: audience, scope: 'chats' }),
  });
  const body = await response.json();
  if (!body.access_token) throw new Error(JSON.stringify(body));
  return body.access_token;
}

const result = { closes: [], connects: 0, events: [] };
let connected = () => {};
const wsClient = createClient({
  url: uri.replace(/^http/, 'ws'),
  webSocketImpl: WebSocket,
  connectionParams: async () => {
    result.connects += 1;
    return { authorization: `Bearer ${await freshToken()}` };
  },
  retryAttempts: 5,
  retryWait: () => new Promise((resolve) => setTimeout(resolve, 200)),
  on: {
    closed: (event) => result.closes.push(event.code),
    connected: () => connected(),
  },
});
const nextConnection = () => new Promise((resolve) => { connected = resolve; });

const link = ApolloLink.split(
  ({ query }) => {
    const definition = getMainDefinition(query);
    return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
  },
  new GraphQLWsLink(wsClient),
  new HttpLink({
    uri,
    fetch: async (url, options) => fetch(url, {
      ...options,
      headers: { ...options.headers, authorization: `Bearer ${await freshToken()}` },
    }),
  }),
);
const apollo = new ApolloClient({ link, cache: new InMemoryCache() });
const EVENTS = gql`subscription { chatEvents { type chat { id title } } }`;
const CREATE = gql`mutation Create($topic: String) { createChat(input: {topic: $topic}) { chat { id title } } }`;

let eventSeen = () => {};
const nextEvent = () => new Promise((resolve) => { eventSeen = resolve; });
const first = nextConnection();
let waiting = nextEvent();
apollo.subscribe({ query: EVENTS }).subscribe({
  next: ({ data, error }) => {
    if (error) { result.error = String(error); return; }
    result.events.push(data.chatEvents.chat.title);
    eventSeen();
  },
  error: (error) => { result.error = String(error); },
});
await first;
await new Promise((resolve) => setTimeout(resolve, 300));
await apollo.mutate({ mutation: CREATE, variables: { topic: 'Before expiry' } });
await waiting;

// The token expires: the service closes the socket with 4403; graphql-ws connects again with a
// fresh token and subscribes again.
const second = nextConnection();
const closedAt = Date.now();
await second;
result.reconnectedAfterMs = Date.now() - closedAt;
await new Promise((resolve) => setTimeout(resolve, 300));
waiting = nextEvent();
await apollo.mutate({ mutation: CREATE, variables: { topic: 'After reconnect' } });
await waiting;
await wsClient.dispose();
console.log(JSON.stringify(result));
process.exit(0);
