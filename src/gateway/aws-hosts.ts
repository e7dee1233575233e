/**
 * The hosts an aws grant makes usable under `network.policy: strict`, as every other grant's hosts are
 * (policy step 4): AWS's service endpoints for the grant's region and the global ones, plus the grant's
 * custom endpoints. Only endpoint shapes AWS itself owns are listed, one label deep: `*.amazonaws.com`
 * at any depth would also name hosts anyone can rent (`<id>.execute-api.<region>.amazonaws.com`,
 * `ec2-….compute-1.amazonaws.com`, `….elb.amazonaws.com`), which strict must keep refusing.
 * The gateway still re-signs requests to any AWS endpoint a policy allows (aws-types.ts `isAwsHost`).
 */

/** AWS region names (`us-east-1`, `us-gov-west-1`, `cn-north-1`, `eu-isoe-west-1`). */
export const AWS_REGION_RE = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;

/** The DNS suffix of a region's endpoints. */
export function awsDnsSuffix(region: string): string {
  return region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
}

/** Host patterns (policy syntax, port 443) the grant covers; `endpoints` are host or host:port. */
export function awsGrantHosts(region: string, endpoints: readonly string[] = []): string[] {
  const out: string[] = [];
  if (AWS_REGION_RE.test(region)) {
    const suffix = awsDnsSuffix(region);
    out.push(
      // Global endpoints (sts, s3, iam, …) and the region's (sts.<region>, s3.<region>, dynamodb.<region>, …).
      `*.${suffix}:443`,
      `*.${region}.${suffix}:443`,
      // Buckets, virtual-hosted: <bucket>.s3.amazonaws.com and <bucket>.s3.<region>.amazonaws.com.
      `*.s3.${suffix}:443`,
      `*.s3.${region}.${suffix}:443`,
    );
  }
  for (const e of endpoints) out.push(/:\d+$/.test(e) ? e : `${e}:443`);
  return [...new Set(out)];
}
