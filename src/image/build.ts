import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MoatError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/types.js';
import { LABEL_HOME, LABEL_MANAGED } from '../runtime/types.js';
import { ASSETS, renderDockerfile, type ImageRecipe } from './dockerfile.js';
import { imageTag } from './tag.js';
import { buildHint, isEngineNoise, stepOwners } from './build-errors.js';

// eslint-disable-next-line no-control-regex -- terminal escape sequences
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

export interface BuildProgress {
  /** A new build step began ("Step 3/6 : RUN …"). */
  step(text: string, owner: string): void;
  line(text: string): void;
  done(ok: boolean): void;
}

export interface EnsureImageOptions {
  runtime: ContainerRuntime;
  recipe: ImageRecipe;
  homeRoot: string;
  buildsDir: string;
  /** The host's extra CAs for the build; only asked for when a build happens. */
  extraCAs: () => Promise<string[]>;
  rebuild: boolean;
  /** Made only when a build actually happens. */
  progress: () => Promise<BuildProgress>;
}

export interface ImageResult {
  tag: string;
  built: boolean;
  logFile?: string;
}

export function planImage(recipe: ImageRecipe): { tag: string; dockerfile: string } {
  const dockerfile = renderDockerfile(recipe);
  return { tag: imageTag(dockerfile, ASSETS), dockerfile };
}

/** Resolve the image for a recipe: reuse the content-addressed tag when present, build it otherwise. */
export async function ensureImage(opts: EnsureImageOptions): Promise<ImageResult> {
  const { tag, dockerfile } = planImage(opts.recipe);
  if (!opts.rebuild && (await opts.runtime.imageExists(tag))) return { tag, built: false };

  const extraCAs = await opts.extraCAs();
  const progress = await opts.progress();
  await mkdir(opts.buildsDir, { recursive: true, mode: 0o700 });
  const logFile = join(opts.buildsDir, `${tag.replace(/[:/]/g, '_')}.log`);
  const log = createWriteStream(logFile, { mode: 0o600 });
  const ctx = await mkdtemp(join(tmpdir(), 'moat-build-'));
  const owners = stepOwners(dockerfile);
  const tail: string[] = [];
  let currentStep = '';
  let currentOwner = 'base image';
  try {
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    for (const [name, content] of Object.entries(ASSETS)) await writeFile(join(ctx, name), content, { mode: 0o755 });
    await opts.runtime.build({
      contextDir: ctx,
      files: ['Dockerfile', ...Object.keys(ASSETS)],
      tag,
      labels: { [LABEL_MANAGED]: 'true', [LABEL_HOME]: opts.homeRoot },
      buildArgs: extraCAs.length > 0 ? { MOAT_BUILD_CA: extraCAs.join('\n') } : {},
      noCache: opts.rebuild,
      networkMode: 'default',
      onOutput: (raw) => {
        // The engine colours a step's stderr; the log and the terminal get plain text.
        const line = raw.replace(ANSI, '');
        log.write(`${line}\n`);
        const step = /^Step (\d+)\/\d+ : (.*)$/.exec(line);
        if (step) {
          currentStep = line;
          currentOwner = owners[Number(step[1]) - 1] ?? currentOwner;
          tail.length = 0;
          progress.step(line, currentOwner);
        } else if (!isEngineNoise(line)) {
          tail.push(line);
          if (tail.length > 40) tail.shift();
          progress.line(line);
        }
      },
    });
    progress.done(true);
    return { tag, built: true, logFile };
  } catch (err) {
    progress.done(false);
    if (err instanceof MoatError && err.code === 'E_ENGINE_UNREACHABLE') throw err; // not a build failure: the engine is away
    const detail = err instanceof Error ? err.message : String(err);
    tail.push(detail);
    log.write(`${detail}\n`);
    const last = tail.slice(-12).map((l) => `  | ${l}`).join('\n');
    throw new MoatError(
      `The image build failed at ${currentStep ? `"${currentStep.slice(0, 100)}"` : 'its first step'} (${currentOwner}).\n${last}`,
      { code: 'E_BUILD', hint: `${buildHint(tail.join('\n'))} Full log: ${logFile}`, exitCode: 1 },
    );
  } finally {
    await new Promise<void>((r) => log.end(r));
    await rm(ctx, { recursive: true, force: true });
  }
}
