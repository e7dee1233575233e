// Copies non-TypeScript assets (shell scripts baked into images) next to the compiled code.
import { cpSync, mkdirSync } from 'node:fs';
mkdirSync('dist/image/assets', { recursive: true });
cpSync('src/image/assets', 'dist/image/assets', { recursive: true });
