// The admin web page in a real browser: Debian's Chromium (the chromium package), driven
// by playwright-core pointed at that executable. A reviewer pastes a token, finds agent-a's
// waiting high-risk read in the approval queue, clicks Approve, and the waiting
// node-postgres client gets its row.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import type pg from 'pg';
import { expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
// Under CI the browser is installed by .ci/run: a missing one must fail, not skip.
const SKIP = !HAVE_CHROMIUM && !process.env['CI'];
if (SKIP) console.warn(`approval-page browser test skipped: ${CHROMIUM} is not installed (apt-get install chromium; CI installs it)`);

const HIGH = WELL_KNOWN_TRACES.agentAHigh;
const SCREENSHOT = '/tmp/approval-page.png';

test.skipIf(SKIP)('a reviewer approves a waiting request on the web page and the waiting client gets its rows', async () => {
  let proxy: TestProxy | undefined;
  let browser: Browser | undefined;
  try {
    proxy = await startTestProxy({ admin: true });
    const [agent, reviewer] = await Promise.all([getToken('agent-a'), getToken('reviewer')]);
    const client = await proxy.connect(agent);

    // The high-risk read pauses; the notice names the request before anything runs.
    const requestId = new Promise<string>((resolve) => {
      client.on('notice', (n) => {
        const m = /request ([0-9a-f-]{36})/.exec(n.message ?? '');
        if (m?.[1]) resolve(m[1]);
      });
    });
    let settled = false;
    const result = client
      .query<{ trace_id: string; risk: string }>('SELECT trace_id, risk FROM traces WHERE trace_id = $1', [HIGH])
      .finally(() => {
        settled = true;
      });
    result.catch(() => undefined); // observed below; avoid an unhandled rejection meanwhile
    const id = await requestId;
    expect(settled).toBe(false);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(proxy.adminUrl as string);

    // Sign in by pasting the reviewer's token.
    await page.getByLabel('Access token').fill(reviewer);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Signed in as reviewer');

    // The queue shows the request as a card named after requester and trace.
    const card = page.getByRole('listitem', { name: `agent-a → trace ${HIGH}` });
    await card.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await card.getByText(id, { exact: true }).count()).toBe(1);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(settled).toBe(false);

    await card.getByLabel('Reason (optional)').fill('browser test');
    await card.getByRole('button', { name: 'Approve' }).click();

    const rows = await result;
    expect(rows.rows).toEqual([{ trace_id: HIGH, risk: 'high' }]);
    // The page reports the outcome and the card leaves the queue.
    await expect.poll(() => page.getByRole('status').textContent()).toBe(`Request ${id}: approved.`);
    await card.waitFor({ state: 'detached', timeout: 5_000 });
    expect(await page.getByText('Nothing is waiting for approval.').isVisible()).toBe(true);
    expect(pageErrors).toEqual([]);
  } finally {
    await browser?.close();
    await proxy?.close();
  }
});
