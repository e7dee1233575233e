/**
 * JSON Schema for moat.yaml, generated from the zod schema (scripts/gen-schema.ts writes it to
 * schema/moat.schema.json, which ships in the npm package).
 *
 * Editors using yaml-language-server (VS Code's YAML extension, Neovim, Helix, …) validate and complete
 * moat.yaml when its first line is a modeline pointing at the schema:
 *
 *   # yaml-language-server: $schema=./node_modules/moat-cli/schema/moat.schema.json
 *   # yaml-language-server: $schema=https://<host>/moat.schema.json
 *
 * i.e. `# yaml-language-server: $schema=<path or URL>/moat.schema.json`.
 */
import { z } from 'zod';
import { moatConfigSchema } from './schema.js';

export const MOAT_SCHEMA_FILE = 'moat.schema.json';

/** The workspace schema as a JSON Schema (draft 2020-12) object. */
export function moatJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(moatConfigSchema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, title: 'moat.yaml' };
}

/** Stable, pretty-printed text for the generated file. */
export function moatJsonSchemaText(): string {
  return `${JSON.stringify(moatJsonSchema(), null, 2)}\n`;
}
