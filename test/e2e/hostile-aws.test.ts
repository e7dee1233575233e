/**
 * AWS without AWS credentials in the container (issue 18), end to end with the real AWS CLI (Debian's
 * awscli) against a fake AWS started here (STS answered in the real XML wire format, S3 by s3rver),
 * which verifies every SigV4 signature with the keys it issued. The daemon assumes the role with the
 * host's credentials; the container holds only placeholders; the gateway re-signs. Attacks: a request
 * signed with another key is refused and never reaches AWS; no real key, secret or session token is
 * anywhere in the container (env, /proc, its filesystem, docker inspect). The fake's sessions last 30 s,
 * so the daemon renews during the run and the container never notices.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeAws, startFakeAws } from '../fakes/aws.js';
import { cleanupHome, moat, readMetadata, tempDir } from './helpers.js';
import { awsHostEnv } from './fixtures/aws-env.js';
import { docker, exportContains, filesContaining, runIdOf, waitNetLog } from './fixtures/gateway-kit.js';

const BUCKET = 'moat-e2e';
const HOSTS = [
  'sts.amazonaws.com',
  'sts.us-east-1.amazonaws.com',
  's3.amazonaws.com',
  's3.us-east-1.amazonaws.com',
  `${BUCKET}.s3.amazonaws.com`,
  `${BUCKET}.s3.us-east-1.amazonaws.com`,
];
const ROLE = 'arn:aws:iam::123456789012:role/agent';

let home: string;
let root: string;
let ws: string;
let fake: FakeAws;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  home = await tempDir('aws-home');
  root = await tempDir('aws-ws');
  fake = await startFakeAws({ sessionSeconds: 30 });
  env = await awsHostEnv(root, fake, HOSTS);
  ws = join(root, 'ws');
  await mkdir(ws, { recursive: true, mode: 0o755 });
  await writeFile(join(ws, 'moat.yaml'), 'dependencies: [curl, apt:awscli]\ngrants: [aws]\n');
  const g = await moat(['grant', 'aws', '--role', ROLE, '--session-duration', '15m'], { home, cwd: ws, env });
  expect(g.code, g.stderr).toBe(0);
  expect(g.stdout).toContain(`assumed ${ROLE}`);
  const warm = await moat(['run', '--approve-config', '--', 'true'], { home, cwd: ws, env, timeoutMs: 900_000 });
  expect(warm.code, warm.stderr).toBe(0);
}, 900_000);

afterAll(async () => {
  await fake?.close();
  await cleanupHome(home, root, [root]);
});

describe('aws grant end to end', () => {
  it('the AWS CLI works through re-signing (sts, s3 mb, 20 MB multipart up and down, presigned URL, a renewal mid-run); a foreign key is refused; no real credential is in the container', async () => {
    const script = [
      'echo RUN=$MOAT_RUN_ID',
      'echo "KEY=$AWS_ACCESS_KEY_ID"',
      'aws sts get-caller-identity --query Arn --output text | sed "s/^/WHO=/"',
      `aws s3 mb s3://${BUCKET} >/dev/null && echo MB=ok`,
      'head -c 20971520 /dev/urandom > /tmp/big.bin',
      `aws s3 cp --only-show-errors /tmp/big.bin s3://${BUCKET}/big.bin && echo UP=ok`,
      `aws s3 cp --only-show-errors s3://${BUCKET}/big.bin /tmp/back.bin && cmp /tmp/big.bin /tmp/back.bin && echo DOWN=ok`,
      `URL=$(aws s3 presign s3://${BUCKET}/big.bin --expires-in 300)`,
      'curl -sS -o /tmp/pre.bin -w "PRESIGN=%{http_code}\\n" "$URL"; cmp /tmp/big.bin /tmp/pre.bin && echo PRESIGNED=same',
      'AWS_ACCESS_KEY_ID=AKIAFOREIGNKEY000001 AWS_SECRET_ACCESS_KEY=foreignforeignforeignforeignforeign00000 AWS_SESSION_TOKEN= aws sts get-caller-identity >/dev/null 2>&1; echo FOREIGN=$?',
      // Past the 30 s session: the daemon has renewed the credentials; the container's keys did not change.
      'sleep 26; aws sts get-caller-identity --query Arn --output text | sed "s/^/LATER=/"',
      'echo "PROC=$(for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do cat "$f" 2>/dev/null; echo; done | base64 -w0)"',
      'echo "FILES=$(grep -rl -e AKIA -e ASIA /home/moat /tmp /etc 2>/dev/null | base64 -w0)"',
    ].join('\n');
    const r = await moat(['run', '--approve-config', '--keep', '--', 'sh', '-c', script], { home, cwd: ws, env, timeoutMs: 240_000 });
    expect(r.code, r.stderr).toBe(0);
    const id = runIdOf(r.stdout);
    expect(r.stdout).toContain(`WHO=arn:aws:sts::123456789012:assumed-role/agent/moat-${id}`);
    for (const line of ['MB=ok', 'UP=ok', 'DOWN=ok', 'PRESIGN=200', 'PRESIGNED=same']) expect(r.stdout).toContain(line);
    expect(r.stdout).toMatch(/^FOREIGN=(?!0$)\d+$/m);
    expect(r.stdout).toContain('LATER=arn:aws:sts::123456789012:assumed-role/agent/');

    // The fake saw only keys it issued (never the placeholder, never the foreign key), and none failed.
    const placeholder = /^KEY=(.*)$/m.exec(r.stdout)?.[1] ?? '';
    expect(placeholder).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(fake.failures).toEqual([]);
    expect(fake.seenKeys.has(placeholder)).toBe(false);
    expect(fake.seenKeys.has('AKIAFOREIGNKEY000001')).toBe(false);
    // grant check + run start (warm-up) + this run's start + at least one renewal during it.
    expect(fake.issued.length).toBeGreaterThanOrEqual(4);
    const runKeys = fake.log.filter((l) => l.service === 's3' || l.method === 'POST').map((l) => l.key);
    expect(new Set(runKeys).size).toBeGreaterThanOrEqual(2); // before and after the renewal
    expect(fake.log.some((l) => l.service === 's3' && l.path.includes('uploadId='))).toBe(true); // multipart
    expect(fake.log.some((l) => l.payload === 'presigned')).toBe(true);

    // The trace names the grant, service and region; never a key.
    const lines = await waitNetLog(home, id, 8);
    type AwsLine = { type: string; host: string; status: number; url: string; grant?: string; aws?: { service: string; region: string } };
    const s3lines = (lines as unknown as AwsLine[]).filter((l) => l.type === 'request' && l.status === 200 && l.host.includes('.s3.'));
    expect(s3lines.length, JSON.stringify(lines.slice(0, 5))).toBeGreaterThanOrEqual(5);
    for (const l of s3lines)
      expect({ url: l.url.slice(0, 60), grant: l.grant, aws: l.aws }).toEqual({
        url: l.url.slice(0, 60),
        grant: 'aws',
        aws: { service: 's3', region: 'us-east-1' },
      });
    const refused = lines.find((l) => l.status === 403);
    expect(refused?.reason).toMatch(/not the placeholder/);

    // No real credential anywhere in the container: /proc, files, inspect, its filesystem; nor the run's records.
    const secrets = [fake.base.accessKeyId, fake.base.secretAccessKey, ...fake.issued.flatMap((k) => [k.accessKeyId, k.secretAccessKey, k.sessionToken!])];
    const proc = Buffer.from(/^PROC=(.*)$/m.exec(r.stdout)?.[1] ?? '', 'base64');
    expect(proc.includes(placeholder)).toBe(true);
    for (const s of secrets) expect(proc.includes(s)).toBe(false);
    for (const s of secrets) expect(r.stdout).not.toContain(s);
    const meta = await readMetadata(home, id);
    const inspect = await docker(['inspect', meta.containerId as string]);
    for (const s of secrets) expect(inspect).not.toContain(s);
    const exported = await exportContains(meta.containerId as string, [...secrets, 'moat-init']);
    expect(exported.found).toEqual(['moat-init']);
    expect(await filesContaining(join(home, 'runs', id), secrets)).toEqual([]);
  }, 300_000);
});
