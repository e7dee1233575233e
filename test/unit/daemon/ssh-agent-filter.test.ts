import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SshGrant } from '../../../src/credentials/providers/ssh.js';
import { FrameReader, MSG, encodeRequest, parseIdentities, parseSignResponse } from '../../../src/credentials/ssh-agent-protocol.js';
import { fingerprint, verifySshSignature } from '../../../src/credentials/ssh-keys.js';
import { WireWriter } from '../../../src/credentials/ssh-wire.js';
import { AgentFilterSession, type SshAgentDecision } from '../../../src/daemon/ssh-agent-filter.js';
import { createAgentServer, hostAgent } from '../../../src/daemon/ssh-agent-server.js';
import { ecdsaKey, ed25519Key, fakeAgent, pubLine, rsaKey, type TestKey } from '../credentials/ssh-helpers.js';

let dir: string;
let userA: TestKey; // the user's key granted for git.a.test
let userB: TestKey; // … for git.b.test
let other: TestKey; // held by the agent, granted for nothing
let hostA: TestKey; // git.a.test's host key
let hostB: TestKey; // git.b.test's host key
let agent: Awaited<ReturnType<typeof fakeAgent>>;
let decisions: SshAgentDecision[];
let open: Set<string>;

const grant = (host: string, key: TestKey, hostKey: TestKey): SshGrant => ({
  host,
  key: key.blob,
  fingerprint: fingerprint(key.blob),
  knownHosts: [{ blob: hostKey.blob, line: `${host} ${pubLine(hostKey.blob)}` }],
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-agentf-'));
  [userA, userB, other, hostA, hostB] = [ed25519Key(), ecdsaKey(), ed25519Key(), ed25519Key(), rsaKey()];
  agent = await fakeAgent(join(dir, 'host-agent.sock'), [
    { key: other, comment: 'other' },
    { key: userA, comment: 'alice@laptop' },
    { key: userB, comment: 'b' },
  ]);
  decisions = [];
  open = new Set(['git.a.test', 'git.b.test']);
});
afterEach(async () => {
  await agent.close();
  await rm(dir, { recursive: true, force: true });
});

function session(): AgentFilterSession {
  return new AgentFilterSession({
    grants: [grant('git.a.test', userA, hostA), grant('git.b.test', userB, hostB)],
    agent: hostAgent(join(dir, 'host-agent.sock')),
    tunnelOpen: (h) => open.has(h),
    report: (d) => decisions.push(d),
  });
}

const body = (framed: Buffer): Buffer => framed.subarray(4);
/** What OpenSSH's client sends after key exchange with a server holding hostKey. */
function bindMsg(hostKey: TestKey, sessionId: Buffer, signer: TestKey = hostKey, forwarding = false): Buffer {
  return body(encodeRequest({ type: 'bind', hostKey: hostKey.blob, sessionId, signature: signer.sign(sessionId), forwarding }));
}
/** The data ssh asks the agent to sign for publickey authentication. */
function userauth(sessionId: Buffer, key: TestKey, hostKey?: TestKey): Buffer {
  const w = new WireWriter()
    .string(sessionId)
    .byte(50)
    .string('git')
    .string('ssh-connection')
    .string(hostKey ? 'publickey-hostbound-v00@openssh.com' : 'publickey')
    .bool(true)
    .string('ssh-ed25519')
    .string(key.blob);
  if (hostKey) w.string(hostKey.blob);
  return w.toBuffer();
}
const signMsg = (key: TestKey, data: Buffer, flags = 0): Buffer => body(encodeRequest({ type: 'sign', key: key.blob, data, flags }));
const isFailure = (answer: Buffer): boolean => answer.length === 5 && answer[4] === MSG.FAILURE;
const lastRefusal = (): string => decisions.filter((d) => !d.allowed).at(-1)?.reason ?? '';

describe('filtering ssh-agent: signing bound to the destination', () => {
  it('a client connected to git.b.test cannot get a signature from the key granted for git.a.test', async () => {
    const s = session();
    const sid = randomBytes(32);
    expect((await s.handle(bindMsg(hostB, sid)))[4]).toBe(MSG.SUCCESS);
    expect(isFailure(await s.handle(signMsg(userA, userauth(sid, userA))))).toBe(true);
    expect(decisions.at(-1)).toMatchObject({
      action: 'sign',
      allowed: false,
      host: 'git.b.test',
      fingerprint: fingerprint(userA.blob),
      reason: 'the key is granted for git.a.test, but the session is with git.b.test',
    });
    // The same connection gets b's key signed, and the signature is b's over exactly that data.
    const data = userauth(sid, userB, hostB);
    const sig = parseSignResponse(body(await s.handle(signMsg(userB, data))));
    expect(sig && verifySshSignature(userB.blob, data, sig)).toBe(true);
    expect(decisions.at(-1)).toMatchObject({ action: 'sign', allowed: true, host: 'git.b.test', fingerprint: fingerprint(userB.blob) });
  });

  it("lists only granted keys (host comments), and after a bind only the bound host's", async () => {
    const s = session();
    const ids = parseIdentities(body(await s.handle(Buffer.from([MSG.REQUEST_IDENTITIES]))));
    expect(ids).toEqual([
      { blob: userA.blob, comment: 'moat ssh:git.a.test' },
      { blob: userB.blob, comment: 'moat ssh:git.b.test' },
    ]);
    expect(decisions.at(-1)).toMatchObject({ action: 'list', allowed: true, listed: [fingerprint(userA.blob), fingerprint(userB.blob)] });
    await s.handle(bindMsg(hostA, randomBytes(32)));
    expect(parseIdentities(body(await s.handle(Buffer.from([MSG.REQUEST_IDENTITIES])))).map((i) => i.blob)).toEqual([userA.blob]);
  });

  it('refuses to sign without a bind, for a key not granted, or for data of another session', async () => {
    const s = session();
    const sid = randomBytes(32);
    expect(isFailure(await s.handle(signMsg(userA, userauth(sid, userA))))).toBe(true);
    expect(lastRefusal()).toMatch(/never bound/);
    await s.handle(bindMsg(hostA, sid));
    expect(isFailure(await s.handle(signMsg(other, userauth(sid, other))))).toBe(true);
    expect(lastRefusal()).toBe('the key is not granted to this run');
    expect(isFailure(await s.handle(signMsg(userA, userauth(randomBytes(32), userA))))).toBe(true);
    expect(lastRefusal()).toMatch(/another session/);
    expect(isFailure(await s.handle(signMsg(userA, randomBytes(64))))).toBe(true);
    expect(lastRefusal()).toMatch(/not an SSH publickey authentication request/);
    expect(isFailure(await s.handle(signMsg(userA, userauth(sid, userB))))).toBe(true);
    expect(lastRefusal()).toMatch(/names another key/);
    expect(isFailure(await s.handle(signMsg(userA, userauth(sid, userA, hostB))))).toBe(true);
    expect(lastRefusal()).toMatch(/another server host key/);
    expect(isFailure(await s.handle(signMsg(userA, userauth(sid, userA), 1)))).toBe(true);
    expect(lastRefusal()).toMatch(/flags 1/);
    open.delete('git.a.test');
    expect(isFailure(await s.handle(signMsg(userA, userauth(sid, userA))))).toBe(true);
    expect(lastRefusal()).toMatch(/connection to git.a.test is closed/);
    // The host agent was asked to sign nothing at all.
    expect(agent.requests.filter((r) => r === MSG.SIGN_REQUEST)).toEqual([]);
  });

  it('refuses a forged bind, an unknown host key, a host with no open tunnel, forwarding, and a rebind', async () => {
    const sid = randomBytes(32);
    let s = session();
    expect(isFailure(await s.handle(bindMsg(hostA, sid, hostB)))).toBe(true);
    expect(lastRefusal()).toMatch(/does not verify/);
    expect(isFailure(await s.handle(signMsg(userA, userauth(sid, userA))))).toBe(true);
    expect(isFailure(await s.handle(bindMsg(other, sid)))).toBe(true);
    expect(lastRefusal()).toMatch(/not a known_hosts key of any granted host/);
    expect(isFailure(await s.handle(bindMsg(hostA, sid, hostA, true)))).toBe(true);
    expect(lastRefusal()).toBe('agent forwarding is not allowed');
    expect(isFailure(await s.handle(bindMsg(hostA, randomBytes(8))))).toBe(true);
    open.delete('git.a.test');
    expect(isFailure(await s.handle(bindMsg(hostA, sid)))).toBe(true);
    expect(lastRefusal()).toMatch(/no SSH connection to git.a.test open/);
    open.add('git.a.test');
    s = session();
    expect((await s.handle(bindMsg(hostA, sid)))[4]).toBe(MSG.SUCCESS);
    expect((await s.handle(bindMsg(hostA, sid)))[4]).toBe(MSG.SUCCESS);
    expect(isFailure(await s.handle(bindMsg(hostB, randomBytes(32))))).toBe(true);
    expect(lastRefusal()).toMatch(/already bound/);
  });

  it('answers FAILURE to every other message and passes none of them to the host agent', async () => {
    const s = session();
    const hostile = [
      new WireWriter().byte(17).string('ssh-ed25519').string(randomBytes(32)).string(randomBytes(64)).string('evil').toBuffer(), // ADD_IDENTITY
      new WireWriter().byte(18).string(userA.blob).toBuffer(), // REMOVE_IDENTITY
      Buffer.from([19]), // REMOVE_ALL_IDENTITIES
      new WireWriter().byte(22).string('pw').toBuffer(), // LOCK
      new WireWriter().byte(23).string('pw').toBuffer(), // UNLOCK
      new WireWriter().byte(25).string('x').toBuffer(), // ADD_ID_CONSTRAINED
      new WireWriter().byte(MSG.EXTENSION).string('query').toBuffer(),
      new WireWriter().byte(MSG.EXTENSION).string('restrict-destination-v00@openssh.com').toBuffer(),
      Buffer.from([MSG.SIGN_REQUEST, 0, 0]), // truncated
      Buffer.from([MSG.REQUEST_IDENTITIES, 9]), // trailing byte
      Buffer.from([0]),
    ];
    for (const m of hostile) expect(isFailure(await s.handle(m))).toBe(true);
    expect(decisions.every((d) => !d.allowed)).toBe(true);
    expect(decisions).toHaveLength(hostile.length);
    expect(agent.requests).toEqual([]);
  });
});

describe('filtering ssh-agent server (hostile client)', () => {
  async function serve(): Promise<{ path: string; close(): Promise<void> }> {
    const path = join(dir, 'agent.sock');
    const server = createAgentServer(
      {
        grants: [grant('git.a.test', userA, hostA)],
        agent: hostAgent(join(dir, 'host-agent.sock')),
        tunnelOpen: () => true,
        report: (d) => decisions.push(d),
      },
      { maxConnections: 2 },
    );
    await new Promise<void>((r) => server.listen(path, r));
    return {
      path,
      close: () =>
        new Promise((r) => {
          server.close(() => r());
        }),
    };
  }
  /** Write bytes and collect answers until n arrive or the server closes. */
  function talk(path: string, bytes: Buffer, n: number): Promise<{ answers: Buffer[]; closed: boolean }> {
    return new Promise((resolve) => {
      const sock = net.createConnection(path);
      const frames = new FrameReader();
      const answers: Buffer[] = [];
      sock.on('data', (c: Buffer) => {
        answers.push(...frames.push(c));
        if (answers.length >= n) {
          sock.destroy();
          resolve({ answers, closed: false });
        }
      });
      sock.on('error', () => undefined);
      sock.on('close', () => resolve({ answers, closed: true }));
      sock.write(bytes);
    });
  }

  it('answers 500 pipelined requests in order; closes on a huge length without buffering it', async () => {
    const srv = await serve();
    const many = Buffer.concat(Array.from({ length: 500 }, (_, i) => (i % 2 ? encodeRequest({ type: 'list' }) : Buffer.from([0, 0, 0, 1, 19]))));
    const r = await talk(srv.path, many, 500);
    expect(r.answers).toHaveLength(500);
    expect(r.answers.map((a) => a[0])).toEqual(Array.from({ length: 500 }, (_, i) => (i % 2 ? MSG.IDENTITIES_ANSWER : MSG.FAILURE)));
    const huge = await talk(srv.path, Buffer.from([0xff, 0xff, 0xff, 0xf0, 11]), 1);
    expect(huge).toEqual({ answers: [], closed: true });
    expect(lastRefusal()).toMatch(/bad agent frame: agent message length 4294967280 out of range/);
    await srv.close();
  });

  it('refuses connections past the limit', async () => {
    const srv = await serve();
    const held = [net.createConnection(srv.path), net.createConnection(srv.path)];
    await Promise.all(held.map((s) => new Promise((r) => s.once('connect', r))));
    await new Promise((r) => setTimeout(r, 50));
    const third = await talk(srv.path, encodeRequest({ type: 'list' }), 1);
    expect(third).toEqual({ answers: [], closed: true });
    expect(lastRefusal()).toMatch(/2 agent connections are open/);
    for (const s of held) s.destroy();
    await srv.close();
  });
});
