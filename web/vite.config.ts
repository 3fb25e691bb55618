// Vite builds the portals into static files that `sund serve --web-dir DIR` serves at /app/.
// `npm run dev` serves them here and proxies the server's paths to a running `sund serve`
// (SUND_DEV_TARGET, default http://127.0.0.1:8080). The Host header is kept, so the server
// derives this origin for redirects, the token audience and the websocket URL.
import { defineConfig } from 'vite';

const target = process.env.SUND_DEV_TARGET ?? 'http://127.0.0.1:8080';
const proxied = ['/fhir', '/oauth2', '/iomt', '/audit', '/metrics', '/healthz', '/readyz',
  '/.well-known'];

export default defineConfig({
  base: '/app/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    target: 'es2022',
    emptyOutDir: true,
    sourcemap: false,
    // No inlined assets: everything is a file of this origin (CSP img-src 'self').
    assetsInlineLimit: 0,
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    strictPort: true,
    proxy: Object.fromEntries(proxied.map((p) => [p, { target, changeOrigin: false, ws: p === '/fhir' }])),
  },
});
