// A chat screen as the platform's frontends build it with Apollo Client 4: the conversation paged
// both ways with the cache merging pages by cursor (relayStylePagination), then the assistant's
// reply followed with client.subscribe over GraphQLWsLink from the page's eventCursor, the socket
// cut mid-reply and the subscription resumed with `after` set to the last event's cursor.
// The agent writing the reply is this script too, through REST with the API key, as the
// platform's agent server does.
// Usage: node conversation.mjs http://127.0.0.1:8000 KEY
// Prints one JSON object with what it saw; tests/system/test_js_clients.py checks it.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition, relayStylePagination } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [base, key] = process.argv.slice(2);
const uri = `${base}/graphql`;
const CHUNKS = 24;
setTimeout(() => { console.error('timed out'); process.exit(2); }, 60_000);

const rest = async (path, body) => {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
};

function apolloWith(wsClient) {
  const http = new HttpLink({ uri, headers: { 'x-api-key': key } });
  const link = wsClient
    ? ApolloLink.split(
      ({ query }) => {
        const definition = getMainDefinition(query);
        return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
      },
      new GraphQLWsLink(wsClient),
      http,
    )
    : http;
  return new ApolloClient({
    link,
    cache: new InMemoryCache({
      typePolicies: { ChatRoom: { fields: { messages: relayStylePagination() } } },
    }),
  });
}

const MESSAGE = 'id role status parts';
const PAGE = gql`query Page($id: UUID!, $first: Int, $after: String, $last: Int, $before: String) {
  chat(id: $id) { id messages(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { ${MESSAGE} } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    eventCursor
  } }
}`;
const SEND = gql`mutation Send($input: SendMessageInput!) { sendMessage(input: $input) { message { ${MESSAGE} } } }`;
const FOLLOW = gql`subscription Follow($chatId: UUID!, $after: String) {
  chatMessages(chatId: $chatId, after: $after) { cursor type chunk { index parts } message { id status parts } }
}`;

const result = {};
const apollo = apolloWith(null);
const chat = (await rest('/api/chats', { topic: 'Apollo conversation' })).chat.id;
const sent = [];
for (let n = 0; n < 5; n += 1) {
  const { data } = await apollo.mutate({
    mutation: SEND,
    variables: { input: { chatId: chat, parts: [{ type: 'text', text: `message ${n}` }] } },
  });
  sent.push(data.sendMessage.message.id);
}

// Backward, as a chat screen loads: the newest two, then older pages, prepended by the policy.
const backward = apolloWith(null);
const older = backward.watchQuery({ query: PAGE, variables: { id: chat, last: 2 } });
let newest = (await backward.query({ query: PAGE, variables: { id: chat, last: 2 } })).data.chat.messages;
let pages = 1;
while (newest.pageInfo.hasPreviousPage && pages < 10) {
  const more = await older.fetchMore({ variables: { last: 2, before: newest.pageInfo.startCursor } });
  newest = more.data.chat.messages;
  pages += 1;
}
const loaded = backward.readQuery({ query: PAGE, variables: { id: chat, last: 2 } });
result.backwardPages = pages;
result.backwardIds = loaded.chat.messages.edges.map((edge) => edge.node.id);

// Forward, two at a time, merged by the same policy.
const forward = apolloWith(null);
const watch = forward.watchQuery({ query: PAGE, variables: { id: chat, first: 2 } });
let current = (await forward.query({ query: PAGE, variables: { id: chat, first: 2 } })).data.chat.messages;
let forwardPages = 1;
while (current.pageInfo.hasNextPage && forwardPages < 10) {
  const more = await watch.fetchMore({ variables: { first: 2, after: current.pageInfo.endCursor } });
  current = more.data.chat.messages;
  forwardPages += 1;
}
const merged = forward.readQuery({ query: PAGE, variables: { id: chat, first: 2 } });
result.forwardPages = forwardPages;
result.forwardIds = merged.chat.messages.edges.map((edge) => edge.node.id);
result.sent = sent;

// The reply: subscribe from the page's eventCursor, let the agent write, cut the socket after a
// few events, resubscribe from the last cursor on a new socket.
const start = (await apollo.query({ query: PAGE, variables: { id: chat, last: 1 }, fetchPolicy: 'network-only' }))
  .data.chat.messages.eventCursor;
const events = [];
let after = start;
let reply = null;
const agent = (async () => {
  reply = (await rest(`/api/chats/${chat}/replies`)).message.id;
  for (let index = 0; index < CHUNKS; index += 1) {
    await rest(`/api/chats/${chat}/replies/${reply}/chunks`, { index, parts: [{ type: 'text', text: `${index} ` }] });
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
  await rest(`/api/chats/${chat}/replies/${reply}/finish`);
})();

for (let cut = 0; cut < 4; cut += 1) {
  const wsClient = createClient({
    url: uri.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { 'x-api-key': key },
  });
  const client = apolloWith(wsClient);
  const finished = await new Promise((resolve, reject) => {
    const subscription = client.subscribe({ query: FOLLOW, variables: { chatId: chat, after } }).subscribe({
      next: ({ data, error }) => {
        if (error) { reject(error); return; }
        const event = data.chatMessages;
        events.push({ type: event.type, index: event.chunk?.index ?? null, message: event.message });
        after = event.cursor;
        if (event.type === 'FINISHED') { subscription.unsubscribe(); resolve(true); return; }
        if (cut < 3 && events.length >= 6 * (cut + 1)) { subscription.unsubscribe(); resolve(false); }
      },
      error: reject,
    });
  });
  await wsClient.dispose(); // the socket is gone: the next subscription opens a new one
  if (finished) break;
}
await agent;
result.reply = reply;
result.eventTypes = [...new Set(events.map((event) => event.type))];
result.chunkIndices = events.filter((event) => event.type === 'CHUNK').map((event) => event.index);
result.final = events[events.length - 1].message;
console.log(JSON.stringify(result));
process.exit(0);
