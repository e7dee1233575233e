import { describe, expect, it } from 'vitest';
import { relativeTime } from '../../../src/term/time.js';

const now = Date.parse('2026-12-02T12:00:00Z');
const ago = (s: number): string => relativeTime(new Date(now - s * 1000).toISOString(), now);

describe('relativeTime', () => {
  it('says how long ago, in the words every listing uses', () => {
    expect(ago(0)).toBe('just now');
    expect(ago(9)).toBe('just now');
    expect(ago(42)).toBe('42 s ago');
    expect(ago(3 * 60 + 20)).toBe('3 min ago');
    expect(ago(59 * 60)).toBe('59 min ago');
    expect(ago(2 * 3600 + 59 * 60)).toBe('2 h ago');
    expect(ago(23 * 3600)).toBe('23 h ago');
    expect(ago(30 * 3600)).toBe('yesterday');
    expect(ago(2 * 86400)).toBe('2 days ago');
    expect(ago(13 * 86400)).toBe('13 days ago');
    expect(ago(15 * 86400)).toBe('2 weeks ago');
    expect(ago(100 * 86400)).toBe('3 months ago');
    expect(ago(365 * 86400)).toBe('1 year ago');
    expect(ago(800 * 86400)).toBe('2 years ago');
  });

  it('says when, ahead of now', () => {
    expect(ago(-5 * 60)).toBe('in 5 min');
    expect(ago(-30 * 3600)).toBe('tomorrow');
    expect(ago(-3 * 86400)).toBe('in 3 days');
  });

  it('accepts a Date or milliseconds, and shows "-" for no time or a bad one', () => {
    expect(relativeTime(new Date(now - 120_000), new Date(now))).toBe('2 min ago');
    expect(relativeTime(now - 7200_000, now)).toBe('2 h ago');
    expect(relativeTime(undefined, now)).toBe('-');
    expect(relativeTime('not a date', now)).toBe('-');
  });
});
