/**
 * The grammar of one `dependencies:` entry, checked when moat.yaml is read (so the error points at
 * moat.yaml:LINE:COL) and before anything is built: `name[@version]` for the built-in registry, and the
 * dynamic forms `npm:`, `apt:`, `pip:` with their own name and version grammars (dynamic.ts). No
 * whitespace and no control character can pass, so nothing can add a line to the generated Dockerfile.
 * Whether a name exists and a version is allowed is checked later, with "did you mean" hints (parse.ts).
 */
import { DYNAMIC_PREFIXES, dynamicEntry, type DynamicKind } from './dynamic.js';

/** Registry names as the registry spells them (`node`, `claude-code`, `sqlite3`). */
const REGISTRY_NAME = /^[a-z0-9][a-z0-9+._-]{0,63}$/;
/** Registry versions (`20`, `1.22.3`, `latest`, `^5`). */
const REGISTRY_VERSION = /^[~^]?[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;
const SPACE_OR_CONTROL = /[\s\p{Cc}\p{Cf}]/u;

/** Why `spec` is not a dependency entry, or undefined when its form is valid. */
export function dependencyProblem(spec: string): string | undefined {
  const colon = spec.indexOf(':');
  const prefix = colon > 0 ? spec.slice(0, colon) : undefined;
  if (prefix !== undefined && (DYNAMIC_PREFIXES as readonly string[]).includes(prefix)) {
    try {
      dynamicEntry(prefix as DynamicKind, spec.slice(colon + 1), spec);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    return undefined;
  }
  if (SPACE_OR_CONTROL.test(spec))
    return `dependency ${JSON.stringify(spec)} has a space, line break or control character; write one tool per entry, e.g. "node@20"`;
  if (prefix !== undefined)
    return `unknown dependency form ${JSON.stringify(spec)}: the prefixed forms are npm:<package>[@version], apt:<package>[=version] and pip:<package>[==version]`;
  const at = spec.indexOf('@');
  const name = at < 0 ? spec : spec.slice(0, at);
  const version = at < 0 ? undefined : spec.slice(at + 1);
  if (!REGISTRY_NAME.test(name)) return `invalid dependency name ${JSON.stringify(name)}: use a name from moat deps list, e.g. "node@20"`;
  if (version !== undefined && !REGISTRY_VERSION.test(version))
    return `invalid version ${JSON.stringify(version)} in dependency ${JSON.stringify(spec)}: letters, digits and . + _ - only`;
  return undefined;
}
