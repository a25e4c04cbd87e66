// A static file server on 127.0.0.1 for the sample and bench pages: `node serve.mjs PORT
// URL_PREFIX=DIR ...`. It serves only the folders it is given, with the MIME types browsers
// insist on (application/wasm for streaming compilation), and never reaches the network.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.jpg': 'image/jpeg', '.png': 'image/png', '.css': 'text/css', '.ts': 'text/plain' };

export function serve(port, mounts) {
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
    for (const [prefix, dir] of mounts) {
      if (!url.startsWith(prefix)) continue;
      let file = path.join(dir, url.slice(prefix.length));
      if (!file.startsWith(path.resolve(dir))) break;
      if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
      if (!fs.existsSync(file)) break;
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      fs.createReadStream(file).pipe(res);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [port, ...specs] = process.argv.slice(2);
  const mounts = specs.map((s) => s.split('=')).map(([p, d]) => [p, path.resolve(d)]);
  const server = await serve(Number(port), mounts);
  console.log(`serving on http://127.0.0.1:${server.address().port}/ (${mounts.map(([p, d]) => `${p} -> ${d}`).join(', ')})`);
}
