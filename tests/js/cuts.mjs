// What the stream tests share: a TCP proxy of the script's own between the client and the
// service, whose cut() breaks every open connection at once (as a network change or a load
// balancer's restart does), and a page server for Chromium that serves fetch-event-source beside
// the page (the package's ES modules import each other without an extension: it is added).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createConnection, createServer as createTcpServer } from 'node:net';

export async function cuttingProxy(service) {
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
  return {
    url: `http://127.0.0.1:${proxy.address().port}`,
    cut: () => { for (const socket of open) socket.destroy(); },
    close: () => proxy.close(),
  };
}

const library = new URL('./node_modules/@microsoft/fetch-event-source/lib/esm/', import.meta.url);

export async function pageServer(html) {
  const page = createServer((request, response) => {
    const path = new URL(request.url, 'http://page').pathname;
    if (path.startsWith('/lib/')) {
      const name = path.slice(5).replace(/\.js$/, '');
      response.writeHead(200, { 'content-type': 'text/javascript' });
      response.end(readFileSync(new URL(`${name}.js`, library), 'utf8').replace(/from '\.\/(\w+)'/g, "from './$1.js'"));
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html);
  });
  await new Promise((resolve) => page.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${page.address().port}/`, close: () => page.close() };
}
