import { describe, expect, it } from 'vitest';
import { stepLabel, buildProgress } from '../../../src/cli/progress.js';

describe('build progress names what it installs', () => {
  it("from the step's owner, never its Dockerfile text", () => {
    expect(stepLabel("Step 7/12 : RUN moat-build-env sh -c 'curl -fsSL https://nodejs.org/dist/v22…", 'node@22')).toEqual({
      label: 'installing node@22…',
      counter: '7/12',
    });
    expect(stepLabel("Step 9/12 : RUN moat-build-env sh -c 'npm install -g …", 'claude-code, codex')).toEqual({
      label: 'installing claude-code, codex…',
      counter: '9/12',
    });
    expect(stepLabel('Step 1/12 : FROM debian:bookworm-slim', 'base image').label).toBe('starting from the base image');
    expect(stepLabel('Step 5/12 : RUN chmod 0755 …', 'moat').label).toBe("setting up moat's layer");
    expect(stepLabel('Step 11/12 : ENV PATH=…', 'environment').label).toBe('setting the environment');
  });
  it('without a terminal: one line each time the owner changes', async () => {
    let out = '';
    const stream = {
      isTTY: false,
      write: (s: string) => {
        out += s;
        return true;
      },
    } as unknown as NodeJS.WriteStream;
    const p = await buildProgress(stream);
    p.step('Step 1/6 : FROM debian', 'base image');
    p.step('Step 2/6 : ARG MOAT_BUILD_CA', 'base image');
    p.step("Step 3/6 : RUN moat-build-env sh -c 'apt-get update && apt-get install -y make'", 'make');
    p.step("Step 4/6 : RUN moat-build-env sh -c 'curl …'", 'node@22');
    p.step('Step 5/6 : ENV PATH=/x', 'node@22');
    expect(out.split('\n').slice(0, 4)).toEqual([
      'Building the image…',
      '  [1/6] starting from the base image',
      '  [3/6] installing make…',
      '  [4/6] installing node@22…',
    ]);
    expect(out).not.toContain('apt-get');
  });
});
