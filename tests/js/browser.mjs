// Debian's Chromium, headless, as the tests launch it: this machine reaches nothing beyond
// 127.0.0.1, so nothing that phones home at start-up (background networking, updates, sync).
import { chromium } from 'playwright-core';

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}
