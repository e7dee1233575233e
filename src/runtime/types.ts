import type { Duplex, Readable } from 'node:stream';
import type { EngineRuntimeInfo } from './sandbox.js';
import type { EngineName } from './engine.js';

/** Labels every resource moat creates carries; discovery is by these labels only. */
export const LABEL_MANAGED = 'moat.managed';
export const LABEL_RUN_ID = 'moat.run-id';
export const LABEL_HOME = 'moat.home';
export const LABEL_NAME = 'moat.name';
/** The host process a container without a run serves (an image build's relay): kept while it lives. */
export const LABEL_OWNER_PID = 'moat.owner-pid';

/** A bind mount (moat.yaml's "source:target[:ro]" once parsed, config/load.ts). */
export interface Mount {
  /** Absolute host path. */
  source: string;
  /** Absolute path inside the container. */
  target: string;
  readOnly: boolean;
}

export interface ContainerSpec {
  name?: string;
  hostname?: string;
  image: string;
  cmd: string[];
  /** Replaces the image's entrypoint when given. */
  entrypoint?: string[];
  env: Record<string, string>;
  workingDir: string;
  labels: Record<string, string>;
  mounts: Mount[];
  tty: boolean;
  openStdin: boolean;
  /** Network mode; moat uses 'none' so the only way out is the gateway transport. */
  network: string;
  memoryBytes?: number;
  nanoCpus?: number;
  /** Most processes and threads the container may have at once (Docker's PidsLimit). */
  pidsLimit: number;
  /** The run's stored-output cap: the engine's own log of the container is kept smaller than it. */
  logLimitBytes?: number;
  capAdd: string[];
  /** `UID:GID` to run as instead of the image's user. */
  user?: string;
  /** Mount the container's root file system read-only. */
  readOnlyRootfs?: boolean;
  /** The engine's OCI runtime by its registered name (sandbox.ts); absent: the engine's default. */
  runtime?: string;
}

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  status: ContainerStatus;
  exitCode: number;
  finishedAt?: string;
  tty: boolean;
}

export interface ImageInfo {
  id: string;
  tags: string[];
  labels: Record<string, string>;
  size: number;
  /** The image's ENV, "NAME=value" strings (inspect only; a listing leaves it empty). */
  env: string[];
  /** The image's ONBUILD triggers, as written (inspect only). */
  onBuild?: string[];
}

export interface AttachedStreams {
  /** Raw stream: with a TTY it carries the terminal bytes both ways; without, write stdin to it. */
  stream: Duplex;
  stdout: Readable;
  stderr: Readable;
}

export interface LogLine {
  ts: string;
  stream: 'stdout' | 'stderr';
  line: string;
  /** The line was longer than moat records in one entry: it continues in the next entry of its stream. */
  cont?: true;
}

export interface BuildRequest {
  contextDir: string;
  files: string[];
  tag: string;
  labels: Record<string, string>;
  buildArgs: Record<string, string>;
  noCache?: boolean;
  /**
   * The network of every build step (the classic builder's `networkmode`): `container:ID` puts the steps
   * in the network namespace of a running container (moat's build relay); `none` gives them none at all.
   */
  networkMode: string;
  /** Called with each line of build output. */
  onOutput: (line: string) => void;
}

/**
 * What moat needs from a container engine. Docker Engine is built now; Podman's socket, Apple
 * containers and Kubernetes can implement the same interface later.
 */
export interface ContainerRuntime {
  readonly kind: string;
  /** The engine's address (DOCKER_HOST), when the runtime knows it without asking. */
  readonly address?: string;
  ping(): Promise<void>;
  /** `engine` is the product's version; `product` which engine it is (absent: Docker). */
  version(): Promise<{ engine: string; api: string; os: string; arch: string; product?: EngineName }>;
  /** The OCI runtimes the engine has registered (by name), its default one, the engine's address and name, and its CPU count (NCPU). */
  runtimes(): Promise<{ defaultRuntime: string; runtimes: Record<string, EngineRuntimeInfo>; address: string; engine?: EngineName; cpus?: number }>;

  create(spec: ContainerSpec): Promise<string>;
  attach(id: string, tty: boolean): Promise<AttachedStreams>;
  start(id: string): Promise<void>;
  /** Exit code; 'next-exit' (for a container not started yet) waits for the coming exit. */
  wait(id: string, condition?: 'not-running' | 'next-exit'): Promise<number>;
  stop(id: string, timeoutSeconds?: number): Promise<void>;
  kill(id: string, signal?: string): Promise<void>;
  remove(id: string, force?: boolean): Promise<void>;
  resize(id: string, rows: number, cols: number): Promise<void>;
  inspect(id: string): Promise<ContainerInfo | undefined>;
  list(labels: Record<string, string>): Promise<ContainerInfo[]>;
  /**
   * Output lines with their engine timestamps; with follow, resolves when the container stops. Lines are
   * cut at a maximum length; a promise returned by `onLine` pauses the reading until it settles.
   */
  logs(id: string, opts: { follow: boolean; since?: number; tty: boolean }, onLine: (l: LogLine) => void | Promise<void>): Promise<void>;

  build(req: BuildRequest): Promise<void>;
  imageExists(ref: string): Promise<boolean>;
  /** Fetch an image from its registry (progress lines to `onOutput`). */
  pullImage(ref: string, onOutput: (line: string) => void): Promise<void>;
  inspectImage(ref: string): Promise<ImageInfo | undefined>;
  listImages(labels: Record<string, string>): Promise<ImageInfo[]>;
  removeImage(ref: string): Promise<void>;
}
