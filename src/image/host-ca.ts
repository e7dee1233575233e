import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';

const PEM_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function splitPem(text: string): string[] {
  return text.match(PEM_RE) ?? [];
}

let publicRoots: Set<string> | undefined;
function fingerprint(pem: string): string | undefined {
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    return undefined;
  }
}

/**
 * The host's *extra* CA certificates (corporate TLS inspection and the like): the certificates in the
 * configured bundle files that are not public roots Node already ships. A bundle that is the whole
 * system store thus shrinks to the few certificates that matter.
 */
export async function hostExtraCAs(opts: { env: NodeJS.ProcessEnv; configured?: string | undefined }): Promise<string[]> {
  const files = [opts.configured, opts.env.NODE_EXTRA_CA_CERTS, opts.env.SSL_CERT_FILE].filter((f): f is string => typeof f === 'string' && f.length > 0);
  publicRoots ??= new Set(rootCertificates.map(fingerprint).filter((f): f is string => f !== undefined));
  const seen = new Set<string>();
  const out: string[] = [];
  for (const file of [...new Set(files)]) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    for (const pem of splitPem(text)) {
      const fp = fingerprint(pem);
      if (!fp || publicRoots.has(fp) || seen.has(fp)) continue;
      seen.add(fp);
      out.push(pem);
    }
  }
  return out;
}
