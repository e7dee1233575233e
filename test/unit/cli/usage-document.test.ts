import { describe, expect, it } from 'vitest';
import { usageDocument } from '../../../src/cli/json.js';
import { moatCommanderText } from '../../../src/cli/input-errors.js';
import { MoatError } from '../../../src/errors.js';
import { dockerError, isEngineUnreachable } from '../../../src/runtime/docker/errors.js';

const doc = (s: string): unknown => JSON.parse(s);

describe('usage errors with --json', () => {
  it("keep moat's words: the first line is the message, its did-you-mean the hint", () => {
    const worded = moatCommanderText("error: unknown command 'trsut'\n(Did you mean trust?)\n", []);
    expect(doc(usageDocument(worded))).toEqual({ error: { code: 'E_USAGE', message: "unknown command 'trsut'", hint: 'did you mean: moat trust' } });
  });

  it('without a suggestion point at --help; a hint given (a forgotten --) wins', () => {
    const worded = moatCommanderText("error: unknown option '--bogus'\n", ['list']);
    expect(doc(usageDocument(worded))).toEqual({ error: { code: 'E_USAGE', message: "unknown option '--bogus'", hint: 'Add --help for usage.' } });
    expect(doc(usageDocument(worded, 'did you mean: moat run -- ls'))).toMatchObject({ error: { hint: 'did you mean: moat run -- ls' } });
  });
});

describe('isEngineUnreachable', () => {
  it('is told by the error code, not by exit code or errno text', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED /x.sock'), { code: 'ECONNREFUSED' });
    expect(isEngineUnreachable(dockerError(refused, 'list containers', 'unix:///x.sock'))).toBe(true);
    expect(isEngineUnreachable(new MoatError('DOCKER_HOST=x is not supported', { code: 'E_ENGINE_UNREACHABLE' }))).toBe(true);
    // An engine that answered with an error (exit 125 too) is reachable.
    expect(isEngineUnreachable(dockerError(Object.assign(new Error('boom'), { statusCode: 500 }), 'list containers', 'unix:///x.sock'))).toBe(false);
    expect(isEngineUnreachable(new MoatError('x', { code: 'E_ENGINE', exitCode: 125, cause: refused }))).toBe(false);
  });
});
