// What the detect step learned about the host; later steps read it.

export type PackageManager = 'dpkg' | 'rpm';

export interface HostFacts {
  os?: { id: string; versionId: string; prettyName: string; idLike: string[] };
  arch?: 'amd64' | 'arm64';
  packageManager?: PackageManager;
  /** Set when the agent came from a snap (Ubuntu's default). */
  snapAgent?: boolean;
  /** Immutable OSes cannot take a package: the reason and the advice. */
  unsupported?: { reason: string; message: string };
  ec2?: { instanceId: string; region: string };
  /** The firmware says EC2 (dmi.ts), whether or not IMDS answered. */
  ec2Hardware?: boolean;
  /** Installed agent version, when installed. */
  installedVersion?: string;
  /** Desired version resolved (for "latest"). */
  desiredVersion?: string;
  registration?: { instanceId: string; region: string };
  /** nodeadm (EKS Hybrid Nodes, SSM credential provider) owns the agent and its registration (nodeadm.ts). */
  externallyManaged?: 'nodeadm';
}
