import type { BuildRequest } from '../types.js';

/** Image builds go through dockerode (tar context, progress stream); loaded only when a build happens. */
export async function buildWithDockerode(env: NodeJS.ProcessEnv, req: BuildRequest): Promise<void> {
  const { default: Docker } = await import('dockerode');
  const docker = env.DOCKER_HOST ? new Docker() : new Docker({ socketPath: '/var/run/docker.sock' });
  const stream = await docker.buildImage(
    { context: req.contextDir, src: req.files },
    { t: req.tag, labels: req.labels, buildargs: req.buildArgs, nocache: req.noCache ?? false, rm: true, forcerm: true, networkmode: req.networkMode, version: '1' },
  );
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, output: Array<{ error?: string }>) => {
        const failed = output?.find((o) => o.error);
        if (err) reject(err);
        else if (failed) reject(new Error(String(failed.error)));
        else resolve();
      },
      (ev: { stream?: string; error?: string; status?: string }) => {
        const text = ev.stream ?? ev.error ?? ev.status;
        if (text) for (const l of text.split('\n')) if (l.trim().length > 0) req.onOutput(l);
      },
    );
  });
}
