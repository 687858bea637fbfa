// Writes real WHIP offers for the whip_offer fuzz seeds (tests/fuzz/offers/):
// headless Debian chromium makes the offers a browser sends to
// `rmedia serve --webrtc-listen` (microphone + data channel, as
// web/voice/index.html does; audio only; data only) with ICE gathering
// complete, as WHIP without trickle needs.  No server is involved.
//
//   NODE_PATH=tests/webrtc/node_modules node tests/fuzz/dump_offers.js tests/fuzz/offers
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const { chromium } = require('playwright-core');

(async () => {
  const out = process.argv[2] || path.join(__dirname, 'offers');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'],
  });
  // getUserMedia needs a secure context: an empty page on 127.0.0.1
  const server = http.createServer((req, res) => res.end('<!doctype html><title>offers</title>'));
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    const offers = await page.evaluate(async () => {
      async function offer(audio, data) {
        const pc = new RTCPeerConnection();
        if (audio) {
          const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
          for (const t of mic.getTracks()) pc.addTransceiver(t, { direction: 'sendrecv' });
        }
        if (data) pc.createDataChannel('rm');
        await pc.setLocalDescription(await pc.createOffer());
        await new Promise((ok) => {
          if (pc.iceGatheringState === 'complete') return ok();
          pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && ok());
          setTimeout(ok, 3000);
        });
        const sdp = pc.localDescription.sdp;
        pc.close();
        return sdp;
      }
      return { voice: await offer(true, true), audio: await offer(true, false), data: await offer(false, true) };
    });
    fs.mkdirSync(out, { recursive: true });
    for (const [k, v] of Object.entries(offers)) fs.writeFileSync(path.join(out, `chromium-${k}.sdp`), v);
    console.log(`wrote ${Object.keys(offers).length} offers to ${out}`);
  } finally {
    await browser.close();
    server.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
