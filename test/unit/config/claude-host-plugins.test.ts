import { describe, expect, it } from 'vitest';
import { moatConfigSchema } from '../../../src/config/schema.js';

describe('moat.yaml: claude.host_plugins', () => {
  it('is a boolean next to plugins and marketplaces', () => {
    expect(moatConfigSchema.safeParse({ claude: { host_plugins: false, plugins: { 'a@m': true } } }).success).toBe(true);
    expect(moatConfigSchema.safeParse({ claude: { host_plugins: 'no' } }).success).toBe(false);
    expect(moatConfigSchema.safeParse({ codex: { host_plugins: false } }).success).toBe(false);
  });
});
