// Apollo Client 4 against a running chats-api, as the platform's frontends use it.
// Usage: node apollo.mjs http://127.0.0.1:8000/graphql KEY
// Prints one JSON object with what it saw; the Python test (tests/test_js_clients.py) checks it.
import { createHash, randomUUID } from 'node:crypto';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { relayStylePagination } from '@apollo/client/utilities';

const [uri, key] = process.argv.slice(2);
setTimeout(() => { console.error('timed out'); process.exit(2); }, 30_000);
const sent = [];
const countingFetch = async (input, init) => {
  const body = init?.body ? JSON.parse(init.body) : null;
  sent.push({ hasQuery: Boolean(body?.query), hash: body?.extensions?.persistedQuery?.sha256Hash ?? null });
  return fetch(input, init);
};
const sha256 = (text) => createHash('sha256').update(text).digest('hex');

function client({ persisted = false } = {}) {
  const http = new HttpLink({ uri, headers: { 'x-api-key': key }, fetch: countingFetch });
  const link = persisted ? ApolloLink.from([new PersistedQueryLink({ sha256 }), http]) : http;
  return new ApolloClient({
    link,
    cache: new InMemoryCache({
      typePolicies: { Query: { fields: { chats: relayStylePagination(['accountId', 'artistId']) } } },
    }),
  });
}

const CHAT_FIELDS = 'id title accountId sessionId updatedAt artistId';
const CREATE = gql`mutation Create($input: CreateChatInput) { createChat(input: $input) { chat { ${CHAT_FIELDS} } } }`;
const CHAT = gql`query Chat($id: UUID!) { chat(id: $id) { ${CHAT_FIELDS} } }`;
const CHATS = gql`query Chats($first: Int, $after: String) {
  chats(first: $first, after: $after) { edges { cursor node { ${CHAT_FIELDS} } } pageInfo { hasNextPage endCursor } }
}`;

const result = {};
const apollo = client();

// The same chatId twice: one ChatRoom in the cache.
const chatId = randomUUID();
const first = await apollo.mutate({ mutation: CREATE, variables: { input: { chatId, topic: 'Apollo' } } });
const again = await apollo.mutate({ mutation: CREATE, variables: { input: { chatId, topic: 'Apollo' } } });
result.sameChat = first.data.createChat.chat.id === again.data.createChat.chat.id;
result.chatRoomsInCache = Object.keys(apollo.cache.extract()).filter((k) => k.startsWith('ChatRoom:'));

// chat(id)
const read = await apollo.query({ query: CHAT, variables: { id: chatId }, fetchPolicy: 'network-only' });
result.readBack = read.data.chat;

// Paging through chats with fetchMore, the cache merging the pages (relayStylePagination).
for (let n = 0; n < 4; n += 1) {
  await apollo.mutate({ mutation: CREATE, variables: { input: { topic: `page ${n}` } } });
}
const paging = client();
const observable = paging.watchQuery({ query: CHATS, variables: { first: 2 } });
let current = (await paging.query({ query: CHATS, variables: { first: 2 } })).data.chats;
let pages = 1;
while (current.pageInfo.hasNextPage && pages < 10) {
  await observable.fetchMore({ variables: { after: current.pageInfo.endCursor } });
  current = paging.readQuery({ query: CHATS, variables: { first: 2 } }).chats;
  pages += 1;
}
result.pages = pages;
result.pagedTitles = current.edges.map((edge) => edge.node.title);

// An error, read from extensions.code.
try {
  await apollo.mutate({ mutation: CREATE, variables: { input: { accountId: randomUUID() } } });
  result.errorCode = null;
} catch (error) {
  result.errorIsGraphQL = CombinedGraphQLErrors.is(error);
  result.errorCode = error.errors?.[0]?.extensions?.code ?? null;
  result.errorMessage = error.errors?.[0]?.message ?? null;
}

// Automatic persisted queries: hash only, PersistedQueryNotFound, the document once, then hash only.
sent.length = 0;
const persisted = client({ persisted: true });
await persisted.query({ query: CHAT, variables: { id: chatId }, fetchPolicy: 'network-only' });
await persisted.query({ query: CHAT, variables: { id: chatId }, fetchPolicy: 'network-only' });
result.persistedRequests = sent.map((s) => (s.hasQuery ? 'query+hash' : s.hash ? 'hash' : 'query'));

console.log(JSON.stringify(result));
process.exit(0);
