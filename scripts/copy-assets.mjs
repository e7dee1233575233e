// Copies non-TypeScript assets (shell scripts baked into images) next to the compiled code.
import { cpSync, mkdirSync, rmSync } from 'node:fs';
// A bundle of an earlier build would run instead of what tsc just wrote (and read this build's id):
// scripts/bundle.mjs, the next step of `npm run build`, makes it again.
rmSync('dist/bundle', { recursive: true, force: true });
mkdirSync('dist/image/assets', { recursive: true });
cpSync('src/image/assets', 'dist/image/assets', { recursive: true });
// A build id, so a daemon started by an older build is replaced rather than reused.
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
writeFileSync('dist/build-id', `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}\n`);
// The built-in catalog of provider files (the same format as ~/.moat/providers/NAME.yaml).
mkdirSync('dist/credentials/providers/data/catalog', { recursive: true });
cpSync('src/credentials/providers/data/catalog', 'dist/credentials/providers/data/catalog', { recursive: true });
