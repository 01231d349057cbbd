// Where the amazon-ssm-agent package, its detached signature and the `latest` version number live.
//
// Sources (read 2026-11):
// - AWS, "Verifying the signature of SSM Agent"
//   https://docs.aws.amazon.com/systems-manager/latest/userguide/verify-agent-signature.html — the regional bucket
//   layout `https://s3.{region}.amazonaws.com/amazon-ssm-{region}/latest/{debian|linux}_{amd64|arm64}/amazon-ssm-agent.{deb|rpm}`
//   and the signature next to the package as `….deb.sig` / `….rpm.sig` (the same table also names the global bucket
//   `https://s3.amazonaws.com/ec2-downloads-windows/SSMAgent/latest/…`, which this module does not use: the regional
//   one stays inside the node's partition and region, e.g. behind an S3 gateway endpoint).
//   China regions: the same page on docs.amazonaws.cn, and the agent's own tests, use
//   `https://s3.cn-north-1.amazonaws.com.cn/amazon-ssm-cn-north-1/…`; GovCloud uses
//   the bucket `amazon-ssm-us-gov-west-1` in its own region: the AWS GovCloud (US) user guide, "AWS Systems Manager in
//   AWS GovCloud (US)" (https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/govcloud-ssm.html), gives
//   `https://amazon-ssm-us-gov-west-1.s3.us-gov-west-1.amazonaws.com/latest/…` (the virtual-hosted form of the same
//   bucket; this module uses the path-style form `https://s3.us-gov-west-1.amazonaws.com/amazon-ssm-us-gov-west-1/…`).
// - aws/amazon-ssm-agent agent/updateutil/updateconstants/constants.go: `CommonS3URL = "https://s3.{Region}.amazonaws.com"`,
//   `ChinaS3URL = "https://s3.{Region}.amazonaws.com.cn"`, `BucketPath = "/amazon-ssm-{Region}/"`.
// - aws/amazon-ssm-agent agent/setupcli/managers/downloadmanager/downloadmanager.go (getLatestVersionURL,
//   readVersionFromURL): the number behind `latest` is the text file `{bucket}/latest/VERSION` (one 4-part version).
//   The bucket root also holds `ssm-agent-manifest.json` (the agent's self-updater reads it); it is not needed here.
// - Versioned paths: `{bucket}/{version}/{platform}/amazon-ssm-agent.{ext}` (the `latest` segment replaced by the
//   version), e.g. `https://s3.us-east-1.amazonaws.com/amazon-ssm-us-east-1/3.0.1390.0/linux_amd64/amazon-ssm-agent.rpm`
//   and `https://s3.amazonaws.com/ec2-downloads-windows/SSMAgent/{version}/debian_amd64/amazon-ssm-agent.deb` as used
//   by install scripts and distribution packaging; AWS's pages document only `latest`.
// A mirror keeps the same relative layout below its base URL: `{mirror}/latest/VERSION`,
// `{mirror}/{latest|version}/{platform}/amazon-ssm-agent.{ext}` and `….sig`.
import { dnsSuffix } from './regions.ts';
import { isVersion } from './agent-version.ts';

export type PackageFormat = 'deb' | 'rpm';
export type PackageArch = 'amd64' | 'arm64';

export interface PackageUrlInput {
  region: string;
  /** 'latest' or a 4-part version such as "3.3.1142.0". */
  version: string;
  /** Base URL of a mirror with the bucket's layout; absent = the regional AWS bucket. */
  mirror?: string;
  format: PackageFormat;
  arch: PackageArch;
  /** S3 host name to use instead of `s3.{region}.{amazonaws.com|amazonaws.com.cn}` (the config's `endpoints.s3`). */
  s3Host?: string;
}

export interface PackageUrls {
  package: string;
  /** Detached OpenPGP signature of the package: the package URL + `.sig`. */
  signature: string;
  /** Only for 'latest': the text file holding the version number that `latest` currently is. */
  versionFile?: string;
}

export const PACKAGE_FILE_NAME = 'amazon-ssm-agent';
const REGION_RE = /^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$/;
const HOST_RE = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?$/;

/** Bucket directory of a platform: `debian_amd64`, `debian_arm64`, `linux_amd64`, `linux_arm64`. */
export function platformDir(format: PackageFormat, arch: PackageArch): string {
  return `${format === 'deb' ? 'debian' : 'linux'}_${arch}`;
}

/** `https://s3.{region}.{suffix}/amazon-ssm-{region}` (path-style: the bucket name has no dots, but path-style also
 * works through S3 gateway/interface endpoints and with one TLS certificate for all buckets). */
export function bucketBaseUrl(region: string, s3Host?: string): string {
  if (!REGION_RE.test(region)) throw new Error(`invalid region ${JSON.stringify(region)}`);
  const host = s3Host ?? `s3.${region}.${dnsSuffix(region)}`;
  if (!HOST_RE.test(host)) throw new Error(`invalid S3 host ${JSON.stringify(host)}`);
  return `https://${host}/amazon-ssm-${region}`;
}

function mirrorBase(mirror: string): string {
  let u: URL;
  try {
    u = new URL(mirror);
  } catch {
    throw new Error('the mirror is not a valid URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error(`the mirror URL must be http(s), not ${u.protocol}`);
  if (u.search !== '' || u.hash !== '') throw new Error('the mirror URL must not have a query or a fragment');
  return u.toString().replace(/\/+$/, '');
}

/** Pure: the URLs of the package, its signature and (for 'latest') the version file. Throws on invalid input. */
export function packageUrls(input: PackageUrlInput): PackageUrls {
  const version = input.version.trim();
  if (version !== 'latest' && !isVersion(version)) {
    throw new Error(`invalid agent version ${JSON.stringify(input.version)}: expected 'latest' or four numbers like 3.3.1142.0`);
  }
  const base = input.mirror !== undefined && input.mirror !== '' ? mirrorBase(input.mirror) : bucketBaseUrl(input.region, input.s3Host);
  const pkg = `${base}/${version}/${platformDir(input.format, input.arch)}/${PACKAGE_FILE_NAME}.${input.format}`;
  const urls: PackageUrls = { package: pkg, signature: `${pkg}.sig` };
  if (version === 'latest') urls.versionFile = `${base}/latest/VERSION`;
  return urls;
}
