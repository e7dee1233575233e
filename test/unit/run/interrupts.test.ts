import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { detachOnInterrupt, finishDespiteInterrupt } from '../../../src/run/interrupts.js';

describe('Ctrl-C on an attached run that goes on without us', () => {
  let signals: EventEmitter;
  let events: string[];
  let release: () => void;
  beforeEach(() => {
    vi.useFakeTimers();
    signals = new EventEmitter();
    events = [];
    release = detachOnInterrupt(1000, { onArm: () => events.push('arm'), onDetach: () => events.push('detach'), onStop: () => events.push('stop') }, signals);
  });
  afterEach(() => {
    release();
    vi.useRealTimers();
  });

  it('one Ctrl-C detaches once the second has passed', () => {
    signals.emit('SIGINT');
    expect(events).toEqual(['arm']);
    vi.advanceTimersByTime(999);
    expect(events).toEqual(['arm']);
    vi.advanceTimersByTime(1);
    expect(events).toEqual(['arm', 'detach']);
  });
  it('two within the second stop the run, and nothing detaches afterwards', () => {
    signals.emit('SIGINT');
    vi.advanceTimersByTime(400);
    signals.emit('SIGINT');
    vi.advanceTimersByTime(5000);
    signals.emit('SIGINT');
    expect(events).toEqual(['arm', 'stop']);
  });
  it('SIGTERM and SIGHUP detach at once, never stop', () => {
    signals.emit('SIGHUP');
    signals.emit('SIGINT');
    signals.emit('SIGTERM');
    expect(events).toEqual(['detach']);
  });
  it('listens no more once released', () => {
    release();
    signals.emit('SIGINT');
    expect(events).toEqual([]);
    expect(signals.listenerCount('SIGINT')).toBe(0);
  });
});

describe('Ctrl-C after the run has ended, while moat finishes its checks', () => {
  it('the first says so and goes on; the second stops listening and ends moat as Ctrl-C would', () => {
    const signals = new EventEmitter();
    const events: string[] = [];
    const release = finishDespiteInterrupt(
      () => events.push('note'),
      signals,
      () => events.push(`raise (listening: ${signals.listenerCount('SIGINT')})`),
    );
    signals.emit('SIGINT');
    expect(events).toEqual(['note']);
    signals.emit('SIGINT');
    expect(events).toEqual(['note', 'raise (listening: 0)']);
    release();
  });
  it('once released (the checks done), Ctrl-C is no longer held', () => {
    const signals = new EventEmitter();
    const events: string[] = [];
    finishDespiteInterrupt(
      () => events.push('note'),
      signals,
      () => events.push('raise'),
    )();
    signals.emit('SIGINT');
    expect(events).toEqual([]);
    expect(signals.listenerCount('SIGINT')).toBe(0);
  });
});
