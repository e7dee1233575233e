/**
 * The image-reference grammar (distribution/reference, what `docker pull` accepts):
 * `[registry[:port]/]name[:tag][@digest]` with lower-case name components. A base image is written into
 * the generated Dockerfile's FROM line, so anything outside this grammar (a newline, a space, a flag)
 * could add build steps; it is refused before anything is built.
 */

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|-+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9A-Fa-f:]+\\])(?::[0-9]+)?`;
const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

/** The whole reference; `$` without the m flag matches only at the very end (no trailing newline). */
const IMAGE_REFERENCE_RE = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`);

/** Names longer than this are refused by the engine too. */
const MAX_NAME = 255;

/** Why `ref` is not an image reference, or undefined when it is one. */
export function imageReferenceProblem(ref: string): string | undefined {
  if (/[\s\p{Cc}\p{Cf}]/u.test(ref)) return 'an image reference has no spaces, line breaks or control characters';
  const name = ref.split('@')[0]?.replace(/:[^/:]*$/, '') ?? ref;
  if (name.length > MAX_NAME) return `the image name is longer than ${MAX_NAME} characters`;
  if (!IMAGE_REFERENCE_RE.test(ref))
    return 'expected an image reference such as "debian:bookworm-slim" or "registry.example.com:5000/team/image:tag" (name in lower case)';
  return undefined;
}
