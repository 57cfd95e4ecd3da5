// Chat events as JavaScript clients resume them, each subscribed after the chats list's
// eventCursor while this script creates chats:
// - graphql-sse's own createClient (distinct connections mode) through a TCP proxy of this
//   script's own, which cuts every connection three times; the client reconnects by itself and
//   the page hands it the last event's cursor as Last-Event-ID;
// - Apollo Client 4's HttpLink alone (no graphql-ws package): a subscription over multipart HTTP;
// - Apollo Client 4's GraphQLWsLink: the socket terminated after two events, and the page
//   subscribing again with `after` set to the last cursor it saw.
// Usage: node events.mjs SERVICE_BASE KEY CURSOR
// Prints one JSON object with what each client saw; tests/system/test_js_clients.py checks it.
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';

import { cuttingProxy } from './cuts.mjs';

const [service, key, cursor] = process.argv.slice(2);
setTimeout(() => { console.error('timed out'); process.exit(2); }, 60_000);
const QUERY = 'subscription Events($after: String) { chatEvents(after: $after) { type cursor chat { id title } } }';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const result = {};

async function create(topic) {
  const response = await fetch(`${service}/api/chats`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: JSON.stringify({ topic }),
  });
  return (await response.json()).chat.id;
}

// Collects events until `count`, resolving with them.
function collector(count) {
  const events = [];
  let done;
  const finished = new Promise((resolve) => { done = resolve; });
  const push = (event) => { events.push(event); if (events.length === count) done(events); };
  return { events, finished, push };
}

// graphql-sse, three cuts.
{
  const proxy = await cuttingProxy(service);
  let last = null;
  let connects = 0;
  const client = createSseClient({
    url: `${proxy.url}/graphql`,
    headers: () => ({ 'x-api-key': key, ...(last ? { 'last-event-id': last } : {}) }),
    fetchFn: (...args) => { connects += 1; return fetch(...args); },
    retryAttempts: 20,
    retry: () => sleep(100),
  });
  const heard = collector(12);
  const unsubscribe = client.subscribe({ query: QUERY, variables: { after: cursor } }, {
    next: ({ data }) => { last = data.chatEvents.cursor; heard.push(data.chatEvents.chat.id); },
    error: (error) => { result.sseError = String(error); },
    complete: () => {},
  });
  await sleep(300);
  const created = [];
  for (let n = 0; n < 12; n += 1) {
    created.push(await create(`sse ${n}`));
    if ([2, 6, 9].includes(n)) { await sleep(100); proxy.cut(); }
    await sleep(30);
  }
  await heard.finished;
  await sleep(300); // nothing more arrives
  unsubscribe();
  client.dispose();
  proxy.close();
  result.sse = { created, heard: heard.events, connects };
}

// Apollo's HttpLink alone: multipart subscriptions, one after a fresh list's cursor, one after
// the first list's (which replays the graphql-sse part's chats first).
{
  const apollo = new ApolloClient({
    link: new HttpLink({ uri: `${service}/graphql`, headers: { 'x-api-key': key } }),
    cache: new InMemoryCache(),
  });
  const fresh = (await (await fetch(`${service}/api/chats`, { headers: { 'x-api-key': key } })).json()).cursor;
  const follow = (after, heard) => apollo.subscribe({ query: gql(QUERY), variables: { after } }).subscribe({
    next: ({ data, error }) => {
      if (error) result.multipartError = String(error);
      else heard.push(data.chatEvents.chat.id);
    },
    error: (error) => { result.multipartError = String(error); },
  });
  const live = collector(3);
  const replay = collector(15);
  const subscriptions = [follow(fresh, live), follow(cursor, replay)];
  await sleep(300);
  const created = [];
  for (let n = 0; n < 3; n += 1) created.push(await create(`multipart ${n}`));
  const within = (heard) => Promise.race([heard.finished, sleep(20_000).then(() => heard.events)]);
  result.multipart = { created, heard: await within(live), replayed: await within(replay) };
  await sleep(300); // nothing more arrives
  result.multipart.heardAfter = live.events.length;
  for (const subscription of subscriptions) subscription.unsubscribe();
}

// Apollo's GraphQLWsLink: terminated after two events, subscribed again after the last cursor.
{
  const url = `${service.replace(/^http/, 'ws')}/graphql`;
  const wsClient = createWsClient({ url, webSocketImpl: WebSocket, connectionParams: { 'x-api-key': key } });
  const apollo = new ApolloClient({ link: new GraphQLWsLink(wsClient), cache: new InMemoryCache() });
  const listCursor = await (await fetch(`${service}/api/chats`, { headers: { 'x-api-key': key } })).json();
  const heard = [];
  let last = listCursor.cursor;
  const follow = () => apollo.subscribe({ query: gql(QUERY), variables: { after: last } }).subscribe({
    next: ({ data }) => { heard.push(data.chatEvents.chat.id); last = data.chatEvents.cursor; },
  });
  let subscription = follow();
  await sleep(300);
  const created = [await create('ws 0'), await create('ws 1')];
  while (heard.length < 2) await sleep(20);
  subscription.unsubscribe();
  wsClient.terminate();
  created.push(await create('ws 2'), await create('ws 3')); // while no socket is open
  subscription = follow();
  created.push(await create('ws 4'));
  const until = Date.now() + 20_000;
  while (heard.length < 5 && Date.now() < until) await sleep(20);
  await sleep(300);
  subscription.unsubscribe();
  await wsClient.dispose();
  result.websocket = { created, heard };
}

console.log(JSON.stringify(result));
process.exit(0);
