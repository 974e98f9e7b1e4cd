// Builds the settings page into one self-contained file,
// indexer/static/account.html, which the API embeds and serves at /account
// (no other asset to serve or cache-bust). `npm run build` here; a test
// (indexer/tests/page_build.rs) fails when the committed file is stale.
import { defineConfig } from 'vite';
import { viteSingleFile } from 'vite-plugin-singlefile';

export default defineConfig({
  plugins: [viteSingleFile({ removeViteModuleLoader: true })],
  build: {
    outDir: process.env.SPARKS_PAGE_OUT ?? '../static',
    emptyOutDir: false,
    target: 'es2022',
    reportCompressedSize: false,
    rollupOptions: { input: 'account.html' },
  },
});
