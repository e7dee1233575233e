import type { BuildRequest } from '../types.js';
import { BuildStream } from './build-stream.js';
import type { EngineApi } from './engine-api.js';
import { tarContext } from './tar.js';

/**
 * The query of `POST /build`. `version=1` asks for the classic builder: moat's build boundary relies on
 * `networkmode=container:ID`, which BuildKit does not offer; labels and build args travel as JSON.
 */
export function buildQuery(req: BuildRequest): Record<string, string> {
  return {
    t: req.tag,
    labels: JSON.stringify(req.labels),
    buildargs: JSON.stringify(req.buildArgs),
    nocache: req.noCache ? '1' : '0',
    rm: '1',
    forcerm: '1',
    networkmode: req.networkMode,
    version: '1',
  };
}

/** A build the engine reported as failed: its message, as the engine worded it. */
export class BuildFailed extends Error {}

/**
 * Build an image: the context's files as a tar body, the progress stream read to its end, each output
 * line passed to `req.onOutput`. Resolves with the image ID when the engine named it (`aux.ID`).
 */
export async function buildImage(api: EngineApi, req: BuildRequest, query = buildQuery(req)): Promise<string | undefined> {
  const context = await tarContext(req.contextDir, req.files);
  const res = await api.stream('POST', '/build', { query, upload: { data: context, contentType: 'application/x-tar' } });
  const parser = new BuildStream(req.onOutput);
  let cut = false;
  try {
    for await (const chunk of res) parser.write(chunk as Buffer);
  } catch (err) {
    // The connection dropped mid-stream ("aborted"); an error from onOutput is the caller's own.
    if (res.complete || !res.destroyed || (err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err;
    cut = true;
  }
  parser.end();
  if (parser.error !== undefined) throw new BuildFailed(parser.error);
  if (cut || !res.complete) throw new BuildFailed('the engine closed the build stream before the build ended');
  return parser.imageId;
}
