// Opens the HTML pack in headless Chromium with the network off, checks that
// every chart rendered and nothing was requested from outside the file, then
// prints the pack to A4 PDF and takes a screenshot.
//   node check.mjs <index.html> <out.pdf> <out.png>
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';

const [html, pdf, png] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ offline: true, viewport: { width: 1100, height: 1400 } });
const page = await context.newPage();
const outside = [];
const failed = [];
page.on('request', (r) => { if (!/^(file|data):/.test(r.url())) outside.push(r.url()); });
page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
const charts = await page.$$eval('figure.chart', (figs) => figs.map((f) => {
  const svg = f.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
  return {
    name: f.dataset.chart,
    width: box.width,
    height: box.height,
    shapes: svg ? svg.querySelectorAll('rect, path, circle, polyline, line').length : 0,
    texts: svg ? svg.querySelectorAll('text').length : 0,
  };
}));
// Accessibility: axe-core against WCAG 2.0/2.1/2.2 A and AA, from the local package.
await page.addScriptTag({ path: new URL('./node_modules/axe-core/axe.min.js', import.meta.url).pathname });
const axe = await page.evaluate(async () => {
  const r = await window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
  });
  return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
    first: v.nodes[0] ? v.nodes[0].target.join(' ') : '' }));
});
const severe = axe.filter((v) => v.impact === 'serious' || v.impact === 'critical');
const fontOk = await page.evaluate(async () => { await document.fonts.ready; return document.fonts.check("16px 'DejaVu Sans'"); });
await page.emulateMedia({ media: 'print' });
await page.pdf({ path: pdf, format: 'A4', printBackground: true });
await page.emulateMedia({ media: 'screen' });
await page.screenshot({ path: png, fullPage: false });
await browser.close();

const pages = (readFileSync(pdf, 'latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
const blank = charts.filter((c) => c.width < 300 || c.height < 150 || c.shapes < 10 || c.texts < 3);
console.log(`browser: ${charts.length} charts, ${blank.length} not rendered, ${outside.length} requests off the file, ${failed.length} failed, shipped font loaded: ${fontOk}, PDF ${pages} A4 pages`);
console.log(`axe-core: ${axe.length} WCAG 2.2 A/AA rule(s) violated, ${severe.length} serious or critical`);
for (const v of axe) console.log(`  ${v.impact}: ${v.id} (${v.nodes} element(s), e.g. ${v.first}): ${v.help}`);
for (const c of blank) console.log(`  chart not rendered: ${JSON.stringify(c)}`);
for (const u of outside) console.log(`  request: ${u}`);
for (const u of failed) console.log(`  failed: ${u}`);
const ok = severe.length === 0 && charts.length === Number(process.env.EXPECTED_CHARTS || 14) && blank.length === 0 && outside.length === 0 && failed.length === 0 && fontOk && pages > 0;
console.log(ok ? '1 passed, 0 failed' : '0 passed, 1 failed');
process.exit(ok ? 0 : 1);
