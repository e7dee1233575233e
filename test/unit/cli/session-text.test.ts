import { describe, expect, it } from 'vitest';
import { exitLine, startingLine } from '../../../src/cli/session-text.js';

describe('session lines', () => {
  it('the start line says whether the image was cached and how long the start took', () => {
    expect(startingLine('Claude Code', { built: false }, 934)).toBe('Starting Claude Code (image cached, 0.9 s)…');
    expect(startingLine('Codex', { built: true }, 61_250)).toBe('Starting Codex (image built, 61.3 s)…');
  });
  it('the exit line of logs -f', () => {
    expect(exitLine('brave-otter', 3)).toBe('moat: run brave-otter exited with code 3');
    expect(exitLine('brave-otter', undefined)).toBe('moat: run brave-otter ended; its exit code was not recorded');
  });
});
