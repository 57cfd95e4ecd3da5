// A chat screen in Debian's Chromium following the assistant's reply as Server-Sent Events with
// @microsoft/fetch-event-source (what browser apps use to send an Authorization header with SSE),
// signed in with the identity provider's access token. Between the page and the service stands
// a TCP proxy of this script's own, which cuts every open connection three times mid-reply; the
// library reconnects by itself, sending Last-Event-ID. The agent writes the reply through REST
// with its API key, directly to the service.
// Usage: node stream.mjs SERVICE_BASE TOKEN KEY CHAT CURSOR
// Prints one JSON object with what the page saw; tests/system/test_signed_in.py checks it.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createConnection, createServer as createTcpServer } from 'node:net';

import { launchChromium } from './browser.mjs';

const [service, token, key, chat, cursor] = process.argv.slice(2);
const CHUNKS = 60;
setTimeout(() => { console.error('timed out'); process.exit(2); }, 60_000);

// The proxy: every connection from the page to the service goes through it, and cut() breaks
// all of them at once, as a network change or a load balancer's restart does.
const target = new URL(service);
const open = new Set();
const proxy = createTcpServer((client) => {
  const upstream = createConnection(Number(target.port), target.hostname);
  open.add(client);
  open.add(upstream);
  client.pipe(upstream).pipe(client);
  const forget = () => { open.delete(client); open.delete(upstream); client.destroy(); upstream.destroy(); };
  client.on('error', forget).on('close', forget);
  upstream.on('error', forget).on('close', forget);
});
await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const proxied = `http://127.0.0.1:${proxy.address().port}`;
const cut = () => { for (const socket of open) socket.destroy(); };

// The frontend's page, on an origin of its own, with the library served beside it.
const library = new URL('./node_modules/@microsoft/fetch-event-source/lib/esm/', import.meta.url);
const PAGE = `<!doctype html><meta charset="utf-8"><title>Chat</title><pre id="reply"></pre>
<script type="module">
import { fetchEventSource } from '/lib/index.js';
window.events = [];
window.opened = 0;
fetchEventSource(${JSON.stringify(`${proxied}/api/chats/${chat}/stream?after=${cursor}`)}, {
  headers: { authorization: ${JSON.stringify(`Bearer ${token}`)} },
  openWhenHidden: true,
  async onopen(response) {
    if (response.status !== 200) throw new Error('status ' + response.status);
    window.opened += 1;
  },
  onmessage(message) {
    const data = JSON.parse(message.data);
    window.events.push({ id: message.id, event: message.event, data });
    if (data.type === 'chunk') {
      document.getElementById('reply').textContent += data.chunk.parts.map((p) => p.text).join('');
    }
  },
  onerror() { return 100; },  // a dropped connection: retry after 100 ms, from the last id
});
</script>`;
const page = createServer((request, response) => {
  const path = new URL(request.url, 'http://page').pathname;
  if (path.startsWith('/lib/')) {
    const name = path.slice(5).replace(/\.js$/, '');
    response.writeHead(200, { 'content-type': 'text/javascript' });
    // The package's ES modules import each other without an extension: add it for the browser.
    response.end(readFileSync(new URL(`${name}.js`, library), 'utf8').replace(/from '\.\/(\w+)'/g, "from './$1.js'"));
    return;
  }
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  response.end(PAGE);
});
await new Promise((resolve) => page.listen(0, '127.0.0.1', resolve));

const agent = (path, body) => fetch(`${service}/api/chats/${chat}${path}`, {
  method: 'POST',
  headers: { 'x-api-key': key, 'content-type': 'application/json' },
  body: JSON.stringify(body ?? {}),
}).then(async (response) => {
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
});

const result = { pageErrors: [] };
const browser = await launchChromium();
try {
  const context = await browser.newContext();
  const tab = await context.newPage();
  tab.on('pageerror', (error) => result.pageErrors.push(String(error)));
  await tab.goto(`http://127.0.0.1:${page.address().port}/`);
  await tab.waitForFunction(() => window.opened === 1, null, { timeout: 20_000 });

  const reply = (await agent('/replies')).message.id;
  let written = '';
  for (let index = 0; index < CHUNKS; index += 1) {
    const text = `w${index} `;
    await agent(`/replies/${reply}/chunks`, { index, parts: [{ type: 'text', text }] });
    written += text;
    if ([14, 29, 44].includes(index)) cut(); // three cuts, each mid-reply
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await agent(`/replies/${reply}/finish`);
  await tab.waitForFunction(
    () => window.events.some((e) => e.data.type === 'finished'),
    null,
    { timeout: 20_000 },
  );
  const events = await tab.evaluate(() => window.events);
  result.opened = await tab.evaluate(() => window.opened);
  result.chunkIndices = events.filter((e) => e.data.type === 'chunk').map((e) => e.data.chunk.index);
  result.idsAreCursors = events.every((e) => e.id === e.data.cursor);
  result.shown = await tab.textContent('#reply');
  result.written = written;
  result.final = events.find((e) => e.data.type === 'finished').data.message;
} finally {
  await browser.close();
  page.close();
  proxy.close();
}
console.log(JSON.stringify(result));
process.exit(0);
