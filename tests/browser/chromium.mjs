// Debian's Chromium, headless under Playwright, as every browser test runner starts it (run.mjs,
// site.mjs, faults.mjs): one list of flags, so the runners cannot drift apart.
import { chromium } from 'playwright-core';

// None of Chromium's own background traffic: a runner's request log holds the pages' requests.
const FLAGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Launches Chromium with the SwiftShader WebGPU adapter (`mode` 'webgpu') or with WebGPU off
 * ('cpu': the library's CPU path). `$CHROMIUM` names another binary.
 */
export function launchChromium(mode) {
  if (mode !== 'webgpu' && mode !== 'cpu') throw new Error(`launchChromium: unknown mode ${mode}`);
  const gpu = mode === 'webgpu' ? '--enable-unsafe-webgpu' : '--disable-webgpu';
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [...FLAGS, gpu],
  });
}
