// A chat screen in Debian's Chromium following the assistant's reply as Server-Sent Events with
// @microsoft/fetch-event-source (what browser apps use to send an Authorization header with SSE),
// signed in with the identity provider's access token. Between the page and the service stands
// a TCP proxy of this script's own, which cuts every open connection three times mid-reply; the
// library reconnects by itself, sending Last-Event-ID. The agent writes the reply through REST
// with its API key, directly to the service.
// Usage: node stream.mjs SERVICE_BASE TOKEN KEY CHAT CURSOR
// Prints one JSON object with what the page saw; tests/system/test_signed_in.py checks it.
import { launchChromium } from './browser.mjs';
import { cuttingProxy, pageServer } from './cuts.mjs';

const [service, token, key, chat, cursor] = process.argv.slice(2);
const CHUNKS = 60;
setTimeout(() => { console.error('timed out'); process.exit(2); }, 60_000);

const proxy = await cuttingProxy(service);
const proxied = proxy.url;
const cut = proxy.cut;

// The frontend's page, on an origin of its own, with the library served beside it.
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
const page = await pageServer(PAGE);

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
  await tab.goto(page.url);
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
