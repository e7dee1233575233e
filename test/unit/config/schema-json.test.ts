import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { moatJsonSchema, moatJsonSchemaText } from '../../../src/config/schema-json.js';

describe('moat.schema.json', () => {
  it('is generated from the zod schema and up to date (run `npm run schema`)', async () => {
    const onDisk = await readFile(new URL('../../../schema/moat.schema.json', import.meta.url), 'utf8');
    expect(onDisk).toBe(moatJsonSchemaText());
  });

  it('is strict and describes every top-level field', () => {
    const schema = moatJsonSchema() as { additionalProperties: unknown; properties: Record<string, { description?: string }> };
    expect(schema.additionalProperties).toBe(false);
    const fields = Object.keys(schema.properties);
    expect(fields).toEqual(expect.arrayContaining(['name', 'command', 'env', 'mounts', 'network', 'claude', 'codex', 'ports', 'secrets']));
    for (const f of fields) expect(schema.properties[f]?.description, f).toBeTruthy();
  });
});
