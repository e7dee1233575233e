import { readFileSync } from 'node:fs';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The package version plus the id of this build (dist/build-id); a daemon of another build is replaced. */
export const BUILD: string = (() => {
  try {
    return `${VERSION}+${readFileSync(new URL('./build-id', import.meta.url), 'utf8').trim()}`;
  } catch {
    return `${VERSION}+dev`;
  }
})();
