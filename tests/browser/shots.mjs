// The README's summary and scorecard pictures: node shots.mjs <pack>/index.html docs (run from the browser check's node folder).
import { chromium } from 'playwright-core';
const [,, page_path, out] = process.argv;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1900, height: 900 } });
await page.goto('file://' + page_path);
await page.locator('section.summary').screenshot({ path: out + '/summary.png' });
await page.addStyleTag({ content: '*{overflow:visible !important; max-width:none !important}' });
const sc = page.locator('table', { has: page.locator('caption', { hasText: 'Provider scorecard' }) }).first();
await sc.screenshot({ path: out + '/scorecard.png' });
await browser.close();
