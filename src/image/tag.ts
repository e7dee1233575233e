import { createHash } from 'node:crypto';

/** Content-addressed tag: a hash of the full Dockerfile and every file it copies. */
export function imageTag(dockerfile: string, files: Record<string, string>): string {
  const h = createHash('sha256');
  h.update('Dockerfile\0').update(dockerfile).update('\0');
  for (const name of Object.keys(files).sort())
    h.update(name)
      .update('\0')
      .update(files[name] ?? '')
      .update('\0');
  return `moat-image:${h.digest('hex').slice(0, 20)}`;
}
