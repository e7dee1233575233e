import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The ~/.moat layout. Every path moat writes under its home comes from here, so tests can run many homes
 * side by side by setting MOAT_HOME.
 */
export class MoatHome {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env): MoatHome {
    return new MoatHome(env.MOAT_HOME && env.MOAT_HOME.length > 0 ? env.MOAT_HOME : join(homedir(), '.moat'));
  }

  get runsDir(): string {
    return join(this.root, 'runs');
  }
  runDir(id: string): string {
    return join(this.runsDir, id);
  }
  get globalConfig(): string {
    return join(this.root, 'config.yaml');
  }
  get daemonDir(): string {
    return join(this.root, 'daemon');
  }
  get caDir(): string {
    return join(this.root, 'ca');
  }
  /** The router's own CA (gateway/routing-ca.ts), never the interception CA above. */
  get routingCaDir(): string {
    return join(this.root, 'routing-ca');
  }
  get credentialsDir(): string {
    return join(this.root, 'credentials');
  }
  get encryptionKeyFile(): string {
    return join(this.root, 'encryption.key');
  }
  get auditDir(): string {
    return join(this.root, 'audit');
  }
  get buildsDir(): string {
    return join(this.root, 'builds');
  }
  get locksDir(): string {
    return join(this.root, 'locks');
  }
}
