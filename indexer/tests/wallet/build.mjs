// Bundles the test wallet (test-wallet.ts) into one script for WebDriver to
// inject; prints it. Run by indexer/tests/page.rs.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const [output] = await build({
  configFile: false,
  logLevel: 'silent',
  root: here,
  build: {
    write: false,
    minify: false,
    target: 'es2022',
    lib: { entry: join(here, 'test-wallet.ts'), formats: ['iife'], name: 'SparksTestWalletInstaller' },
  },
});
process.stdout.write(output.output[0].code);
