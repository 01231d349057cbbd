// What to do about a failing step or probe, by reason: the README's troubleshooting tables, as data, so that
// `ssm-agent-operator diagnose` prints the fix next to the failure. Pure.

const STEP_FIXES: Record<string, string> = {
  SignatureInvalid: 'the package does not match the signature (corrupted download or a mirror with altered files); nothing was installed: refill the mirror from AWS',
  ChecksumMismatch: "the package's sha256 is not agent.sha256: fix agent.sha256 or the mirror's file",
  NotFound: 'no package at that URL: check agent.version, or that the mirror keeps the bucket layout ({version}/debian_amd64/…)',
  DownloadFailed: "the bucket or mirror is unreachable: look at the s3 probe below and the proxy",
  VersionLookupFailed: "latest/VERSION is unreachable: look at the s3 probe below and the proxy, or pin agent.version",
  ActivationMissing: 'the activation Secret is missing or lacks activationId and activationCode',
  ActivationExpired: 'make a new activation (or let the managed activation rotate) and update the Secret; retried with backoff',
  InvalidActivation: 'the activation id/code pair is wrong or deleted: fix the Secret; retried with backoff',
  RegistrationLimitExceeded: 'the activation has no registrations left: raise the limit or deregister deleted nodes',
  SudoersInvalid: 'visudo rejected the rule; the old file was kept: check ssmUser.groups',
  GroupMissing: 'a group in ssmUser.groups does not exist on the host',
  ImmutableOS: "this OS cannot take the package: exclude the node, or use the OS's own way (e.g. Bottlerocket's control container)",
  NoPackageManager: 'no dpkg or rpm on the host: exclude the node from the config',
  UnsupportedArchitecture: 'no agent package for this architecture: exclude the node from the config',
  ProxySecretInvalid: 'fix the named key of the proxy Secret (one http(s) URL, no newline)',
  ImdsUnreachable: 'mode Auto on EC2 hardware but IMDS did not answer: enable IMDSv2 (hop limit 2), or set registration.mode: Hybrid',
  PackageIdentityMismatch: 'the file at that path is not that package: fix the mirror',
  PackageUnreadable: 'the downloaded file is not a readable package: fix the mirror',
  LatestWentBackwards: 'latest/VERSION is older than the installed version: pin agent.version to downgrade',
  RegistrationTimedOut: '-register took over 300 s: check the ssm probe below and the proxy',
  CredentialsUnavailable: "Systems Manager refuses the role credentials: the role's trust policy must allow ssm.amazonaws.com and it needs AmazonSSMManagedInstanceCore",
  IdentityMissing: 'the agent has no identity: not registered (see the register step) or, on EC2, no instance profile (or enable Default Host Management Configuration)',
  PingFailed: 'the health ping (UpdateInstanceInformation) is refused or cannot get through: check the ssm probe and the role',
  MessagingUnreachable: 'the agent cannot open ec2messages/ssmmessages: check those probes below',
  ManagedByNodeadm: 'nodeadm (EKS Hybrid Nodes) owns this agent and its registration: the operator only reports it',
};

const PROBE_FIXES: Record<string, string> = {
  dns: "the name does not resolve: the host's resolver, or the VPC endpoint's private DNS",
  tcp_timeout: 'no answer to the TCP connect: security groups, firewalls, routes',
  tcp_refused: 'connection refused or reset: the endpoint host/port, or a firewall that rejects',
  proxy: "the proxy is unreachable, refuses the CONNECT or wants credentials: proxy.*, the proxy's ACL (port 443), proxy.secretRef",
  tls_handshake: 'TLS broke off: something on the path that is not TLS',
  tls_untrusted: "the certificate does not verify: an intercepting proxy — add the AWS endpoints to proxy.noProxy or give the node agent the proxy's CA (PROBE_CA_FILE)",
  http: 'TLS worked but no HTTP answer came: a proxy or load balancer that swallows requests',
};

export function stepFix(reason: string | undefined): string | undefined {
  return reason !== undefined && Object.hasOwn(STEP_FIXES, reason) ? STEP_FIXES[reason] : undefined;
}

export function probeFix(reason: string | undefined): string | undefined {
  return reason !== undefined && Object.hasOwn(PROBE_FIXES, reason) ? PROBE_FIXES[reason] : undefined;
}
