// The chats list of a signed-in user in Debian's Chromium, kept live by `chatEvents` over
// Server-Sent Events in graphql-sse's distinct connections mode, read with
// @microsoft/fetch-event-source (which sends the Authorization header, and Last-Event-ID when it
// reconnects). The page subscribes after the list's eventCursor; between it and the service a
// TCP proxy of this script's own cuts every connection three times while chats are created.
// Usage: node events_browser.mjs SERVICE_BASE TOKEN CURSOR
// Prints one JSON object with what the page saw; tests/system/test_signed_in.py checks it.
import { launchChromium } from './browser.mjs';
import { cuttingProxy, pageServer } from './cuts.mjs';

const [service, token, cursor] = process.argv.slice(2);
const CHATS = 12;
setTimeout(() => { console.error('timed out'); process.exit(2); }, 60_000);

const proxy = await cuttingProxy(service);
const SUBSCRIPTION = 'subscription Events($after: String) { chatEvents(after: $after) { type cursor chat { id title } } }';
const PAGE = `<!doctype html><meta charset="utf-8"><title>Chats</title><ul id="chats"></ul>
<script type="module">
import { fetchEventSource } from '/lib/index.js';
window.events = [];
window.opened = 0;
fetchEventSource(${JSON.stringify(`${proxy.url}/graphql`)}, {
  method: 'POST',
  headers: {
    authorization: ${JSON.stringify(`Bearer ${token}`)},
    'content-type': 'application/json',
    accept: 'text/event-stream',
  },
  body: JSON.stringify({ query: ${JSON.stringify(SUBSCRIPTION)}, variables: { after: ${JSON.stringify(cursor)} } }),
  openWhenHidden: true,
  async onopen(response) {
    if (response.status !== 200) throw new Error('status ' + response.status);
    window.opened += 1;
  },
  onmessage(message) {
    if (message.event !== 'next') return;
    const event = JSON.parse(message.data).data.chatEvents;
    window.events.push({ id: message.id, event });
    const item = document.createElement('li');
    item.textContent = event.chat.title;
    document.getElementById('chats').append(item);
  },
  onerror() { return 100; },  // a dropped connection: retry after 100 ms, from the last id
});
</script>`;
const page = await pageServer(PAGE);

const result = { pageErrors: [], created: [] };
const browser = await launchChromium();
try {
  const context = await browser.newContext();
  const tab = await context.newPage();
  tab.on('pageerror', (error) => result.pageErrors.push(String(error)));
  await tab.goto(page.url);
  await tab.waitForFunction(() => window.opened === 1, null, { timeout: 20_000 });
  for (let n = 0; n < CHATS; n += 1) {
    const response = await fetch(`${service}/api/chats`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ topic: `Chat ${n}` }),
    });
    result.created.push((await response.json()).chat.id);
    if ([2, 6, 9].includes(n)) proxy.cut(); // three cuts, each while chats are being created
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await tab.waitForFunction((count) => window.events.length >= count, CHATS, { timeout: 20_000 });
  await new Promise((resolve) => setTimeout(resolve, 300)); // nothing more arrives
  const events = await tab.evaluate(() => window.events);
  result.opened = await tab.evaluate(() => window.opened);
  result.heard = events.map((e) => e.event.chat.id);
  result.idsAreCursors = events.every((e) => e.id === e.event.cursor);
  result.shown = await tab.$$eval('#chats li', (items) => items.map((item) => item.textContent));
} finally {
  await browser.close();
  page.close();
  proxy.close();
}
console.log(JSON.stringify(result));
process.exit(0);
