// Subscriptions as the frontends run them: Apollo Client 4 with the usual split link (HttpLink for
// queries and mutations, GraphQLWsLink from graphql-ws for subscriptions), and graphql-ws's own
// createClient with a bad key.
// Usage: node subscriptions.mjs http://127.0.0.1:8000/graphql KEY
// Prints one JSON object with what it saw; tests/system/test_js_clients.py checks it.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [uri, key] = process.argv.slice(2);
const wsUrl = uri.replace(/^http/, 'ws');
setTimeout(() => { console.error('timed out'); process.exit(2); }, 30_000);

const result = { closes: [] };
const wsClient = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket,
  connectionParams: { 'x-api-key': key },
  on: { closed: (event) => result.closes.push(event.code) },
});
const link = ApolloLink.split(
  ({ query }) => {
    const definition = getMainDefinition(query);
    return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
  },
  new GraphQLWsLink(wsClient),
  new HttpLink({ uri, headers: { 'x-api-key': key } }),
);
const apollo = new ApolloClient({ link, cache: new InMemoryCache() });

const EVENTS = gql`subscription { chatEvents { type chat { id title } } }`;
const CREATE = gql`mutation Create($topic: String) { createChat(input: {topic: $topic}) { chat { id title } } }`;
const UPDATE = gql`mutation Update($input: UpdateChatInput!) { updateChat(input: $input) { chat { id title } } }`;
const DELETE = gql`mutation Delete($input: DeleteChatInput!) { deleteChat(input: $input) { chatId } }`;

// Subscribe, and know when the server has acknowledged the connection before mutating.
const acknowledged = new Promise((resolve) => wsClient.on('connected', resolve));
const events = [];
const threeEvents = new Promise((resolve, reject) => {
  apollo.subscribe({ query: EVENTS }).subscribe({
    next: ({ data, error }) => {
      if (error) reject(error);
      events.push({ type: data.chatEvents.type, title: data.chatEvents.chat.title });
      if (events.length === 3) resolve();
    },
    error: reject,
  });
});
await acknowledged;
// The subscribe message goes out right after the ack; give the server a moment to register it.
await new Promise((resolve) => setTimeout(resolve, 300));

const created = await apollo.mutate({ mutation: CREATE, variables: { topic: 'Live' } });
const chatId = created.data.createChat.chat.id;
await apollo.mutate({ mutation: UPDATE, variables: { input: { chatId, topic: 'Live v2' } } });
await apollo.mutate({ mutation: DELETE, variables: { input: { chatId } } });
await threeEvents;
result.events = events;
result.chatId = chatId;
await wsClient.dispose();

// A bad key in connectionParams: the server refuses the connection, and no subscription starts.
const refused = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket,
  connectionParams: { 'x-api-key': 'chats_not-a-key' },
  retryAttempts: 0,
});
result.badKey = await new Promise((resolve) => {
  refused.subscribe(
    { query: 'subscription { chatEvents { type } }' },
    {
      next: () => resolve({ received: true }),
      error: (error) => resolve({ received: false, code: error?.code ?? null, reason: error?.reason ?? null }),
      complete: () => resolve({ received: false, completed: true }),
    },
  );
});
await refused.dispose();

console.log(JSON.stringify(result));
process.exit(0);
