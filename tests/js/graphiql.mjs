// GraphiQL as people use it: the service's /graphql page in Debian's Chromium (driven by
// playwright-core), with nothing reachable beyond 127.0.0.1.
// Usage: node graphiql.mjs http://127.0.0.1:8000 KEY ARTIFACTS_DIR
// Prints one JSON object with what it saw; tests/system/test_js_clients.py checks it.
import { mkdirSync } from 'node:fs';

import { launchChromium } from './browser.mjs';

const [base, key, artifacts] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });
setTimeout(() => { console.error('timed out'); process.exit(2); }, 60_000);

const result = { offsite: [], consoleErrors: [], pageErrors: [] };
const browser = await launchChromium();
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  // Nothing beyond the service: every other request is recorded and refused.
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' || url.protocol === 'data:') return route.continue();
    result.offsite.push(url.href);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') result.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => result.pageErrors.push(String(error)));

  const response = await page.goto(`${base}/graphql`);
  result.csp = response.headers()['content-security-policy'] ?? null;
  await page.waitForSelector('.graphiql-container', { timeout: 20_000 });

  // The headers pane: open it, replace its text with the key.
  await page.getByRole('button', { name: 'Headers' }).click();
  await page.click('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(JSON.stringify({ 'x-api-key': key }));

  async function run(document) {
    await page.click('.graphiql-query-editor .CodeMirror');
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(document);
    // GraphiQL re-reads the document's operations shortly after an edit, as a person types.
    await page.waitForTimeout(500);
    await page.keyboard.press('Control+Enter');
  }
  const resultText = () => page.locator('.graphiql-response .CodeMirror-code').innerText();
  async function waitForResult(text, timeout = 15_000) {
    await page.waitForFunction(
      (wanted) => document.querySelector('.graphiql-response .CodeMirror-code')?.innerText.includes(wanted),
      text,
      { timeout },
    );
    return resultText();
  }

  await run('mutation { createChat(input: {topic: "From GraphiQL"}) { chat { id title accountId } } }');
  result.mutation = await waitForResult('From GraphiQL');
  await page.screenshot({ path: `${artifacts}/graphiql-create-chat.png` });

  await run('subscription { chatEvents { type chat { title } } }');
  // Create chats through REST until the subscription shows one (it may take a moment to start).
  let shown = null;
  for (let attempt = 0; attempt < 20 && shown === null; attempt += 1) {
    await fetch(`${base}/api/chats`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'From REST' }),
    });
    shown = await waitForResult('From REST', 1_500).catch(() => null);
  }
  result.event = shown;
  // Whatever GraphiQL keeps in the browser's storage, the key is not in it.
  result.keyStoredIn = await page.evaluate(
    (secret) => [localStorage, sessionStorage].flatMap(
      (storage) => Object.keys(storage).filter((name) => storage.getItem(name).includes(secret)),
    ),
    key,
  );
  await page.screenshot({ path: `${artifacts}/graphiql-subscription.png` });
} catch (error) {
  // What the page showed when it went wrong, for the post-mortem.
  await browser.contexts()[0]?.pages()[0]?.screenshot({ path: `${artifacts}/graphiql-failure.png` });
  console.error(JSON.stringify(result));
  throw error;
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(0);
