import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Run from the package root (`npm run build`): the console's source is here, its assets go to
// dist/console, which `outpost serve` serves at `/`.
export default defineConfig({
  root: 'src/console',
  plugins: [react()],
  logLevel: 'warn',
  build: { outDir: '../../dist/console', emptyOutDir: true, sourcemap: true },
});
