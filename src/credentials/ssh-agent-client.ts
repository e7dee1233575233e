import net from 'node:net';
import { MoatError } from '../errors.js';
import { FrameReader, encodeRequest, parseIdentities, parseSignResponse, type Identity } from './ssh-agent-protocol.js';

/**
 * A client of the host's ssh-agent (SSH_AUTH_SOCK): one connection per call, one request, one answer,
 * bounded in size (FrameReader) and in time.
 */

const TIMEOUT_MS = 10_000;

function exchange(socketPath: string, request: Buffer, timeoutMs = TIMEOUT_MS): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    const frames = new FrameReader();
    const fail = (err: Error): void => {
      sock.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`the ssh-agent at ${socketPath} did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
    sock.once('connect', () => sock.write(request));
    sock.on('data', (chunk: Buffer) => {
      try {
        const [msg] = frames.push(chunk);
        if (!msg) return;
        clearTimeout(timer);
        sock.destroy();
        resolve(msg);
      } catch (err) {
        clearTimeout(timer);
        fail(err as Error);
      }
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
    sock.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`the ssh-agent at ${socketPath} closed the connection without an answer`));
    });
  });
}

export async function agentIdentities(socketPath: string): Promise<Identity[]> {
  return parseIdentities(await exchange(socketPath, encodeRequest({ type: 'list' })));
}

/** The agent's signature blob, or undefined when it refused. */
export async function agentSign(socketPath: string, key: Buffer, data: Buffer, flags: number): Promise<Buffer | undefined> {
  return parseSignResponse(await exchange(socketPath, encodeRequest({ type: 'sign', key, data, flags })));
}

/** The host agent's socket from SSH_AUTH_SOCK, or a MoatError naming the fix. */
export function hostAgentSocket(env: NodeJS.ProcessEnv): string {
  const path = env.SSH_AUTH_SOCK?.trim();
  if (!path) {
    throw new MoatError('SSH_AUTH_SOCK is not set, so moat cannot reach an ssh-agent holding your key.', {
      code: 'E_CREDENTIAL',
      hint: 'Start one and add your key: eval "$(ssh-agent)" && ssh-add ~/.ssh/id_ed25519',
    });
  }
  return path;
}

/** The agent's identities, or a MoatError naming the fix when it cannot be reached. */
export async function listHostAgent(socketPath: string): Promise<Identity[]> {
  try {
    return await agentIdentities(socketPath);
  } catch (err) {
    throw new MoatError(`The ssh-agent at SSH_AUTH_SOCK=${socketPath} cannot be reached: ${(err as Error).message}.`, {
      code: 'E_CREDENTIAL',
      hint: 'Start one and add your key: eval "$(ssh-agent)" && ssh-add ~/.ssh/id_ed25519',
      cause: err,
    });
  }
}
