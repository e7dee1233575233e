import { MoatError, errnoCode } from '../errors.js';
import { EngineApi } from '../runtime/docker/engine-api.js';
import { statusCode } from '../runtime/docker/errors.js';
import { DEFAULT_SOCKET } from '../runtime/docker/endpoint.js';
import type { EngineRuntimeInfo } from '../runtime/sandbox.js';
import { PODMAN_SERVICE_FIX, engineFromVersion, type EngineName } from '../runtime/engine.js';

/** What the engine says about itself (`/version` and `/info`). */
export interface EngineFacts {
  address: string;
  version: string;
  api: string;
  os: string;
  arch: string;
  defaultRuntime: string;
  /** Registered OCI runtimes by name, with their binary. */
  runtimes: Record<string, EngineRuntimeInfo>;
  /** Docker Engine, or Podman (its Docker-compatible API); `version` is that product's version. */
  product: EngineName;
}

/** Why the engine gave no facts: a sentence and the exact fix. */
export class EngineUnavailable extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

/** Engine requests for doctor: each bounded by `timeoutMs`, `/version` and `/info` asked once and shared. */
export class EngineProbe {
  private facts: Promise<EngineFacts> | undefined;
  private readonly answers = new Map<string, Promise<unknown>>();
  /** One client for every request: it learns the engine (and, with `engine: podman`, its socket) once. */
  private readonly api: EngineApi | undefined;
  private readonly fallbackAddress: string;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    readonly timeoutMs = 5000,
    /** The engine the global config names (`engine:`), read before the first request. */
    private readonly expectedEngine?: () => Promise<EngineName | undefined>,
  ) {
    let api: EngineApi | undefined;
    try {
      api = new EngineApi(env, expectedEngine);
    } catch {
      api = undefined; // a DOCKER_HOST moat cannot use: each request says so (explain)
    }
    this.api = api;
    this.fallbackAddress = env.DOCKER_HOST ?? `unix://${DEFAULT_SOCKET}`;
  }

  /** The engine's address (Podman's socket once `engine: podman` was read); a DOCKER_HOST moat cannot use, as written. */
  get address(): string {
    return this.api?.address ?? this.fallbackAddress;
  }

  /** The engine's facts; rejects with {@link EngineUnavailable}. */
  about(): Promise<EngineFacts> {
    this.facts ??= this.ask();
    return this.facts;
  }

  /** `json(path, query)` asked once and shared by the checks that need it. */
  shared<T>(path: string, query?: Record<string, string>): Promise<T> {
    const key = `${path}?${JSON.stringify(query ?? {})}`;
    let p = this.answers.get(key) as Promise<T> | undefined;
    if (!p) {
      p = this.json<T>(path, query);
      this.answers.set(key, p);
    }
    return p;
  }

  /** A JSON answer of the engine, bounded in time (listing images is slow on a loaded engine: twice the probe's time); an HTTP error status is thrown as it is (with `statusCode`). */
  async json<T>(path: string, query?: Record<string, string>, timeoutMs = 2 * this.timeoutMs): Promise<T> {
    try {
      const api = this.api ?? new EngineApi(this.env, this.expectedEngine);
      return await api.json<T>('GET', path, { timeoutMs, ...(query ? { query } : {}) });
    } catch (err) {
      if (statusCode(err) !== undefined) throw err;
      throw this.explain(err, timeoutMs);
    }
  }

  private async ask(): Promise<EngineFacts> {
    try {
      return await this.askOnce();
    } catch (err) {
      throw this.explain(err, this.timeoutMs);
    }
  }

  private async askOnce(): Promise<EngineFacts> {
    const v = await this.json<{ Version?: string; ApiVersion?: string; Os?: string; Arch?: string; Components?: Array<{ Name?: string; Version?: string }> }>(
      '/version',
      undefined,
      this.timeoutMs,
    );
    const product = engineFromVersion(v);
    const i = await this.json<{ DefaultRuntime?: string; Runtimes?: Record<string, EngineRuntimeInfo> }>('/info', undefined, this.timeoutMs);
    return {
      address: this.address,
      product: product.engine,
      version: product.version,
      api: v.ApiVersion ?? '?',
      os: v.Os ?? '?',
      arch: v.Arch ?? '?',
      defaultRuntime: i.DefaultRuntime ?? 'runc',
      runtimes: i.Runtimes ?? {},
    };
  }

  private explain(err: unknown, ms: number): EngineUnavailable {
    if (err instanceof EngineUnavailable) return err;
    // moat's own verdict on the engine (not the one engine: names; an API too old): said as it is.
    if (err instanceof MoatError && err.code === 'E_ENGINE') return new EngineUnavailable(err.message, err.hint ?? 'see moat status');
    const code = errnoCode(err);
    const at = this.address;
    if (this.api?.knownEngine === 'podman' && (code === 'ENOENT' || code === 'ECONNREFUSED')) {
      return new EngineUnavailable(`No Podman API socket answers at ${at} (${code}).`, PODMAN_SERVICE_FIX);
    }
    const restart = 'sudo systemctl restart docker (or point DOCKER_HOST at a working engine)';
    if (code === 'ETIMEDOUT') {
      return new EngineUnavailable(`The Docker engine at ${at} accepted the connection but did not answer within ${ms / 1000} s.`, restart);
    }
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EHOSTUNREACH') {
      return new EngineUnavailable(
        `No Docker engine answers at ${at} (${code}).`,
        'sudo systemctl start docker (or bash scripts/setup.sh), or set DOCKER_HOST to a running engine',
      );
    }
    if (code === 'EACCES')
      return new EngineUnavailable(`Permission denied talking to the Docker engine at ${at}.`, 'sudo usermod -aG docker $USER, then log in again');
    const message = err instanceof Error ? err.message : String(err);
    const hint = (err as { hint?: string }).hint;
    return new EngineUnavailable(`The Docker engine at ${at} failed: ${message}`, hint ?? restart);
  }
}
