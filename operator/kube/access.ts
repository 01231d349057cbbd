// Where the API server is and how to authenticate to it: what KubeClient needs, and nothing of how it was found
// (in-cluster files read directly, or a kubeconfig through @kubernetes/client-node).

export interface KubeTls {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized?: boolean;
}

export interface KubeAuth {
  headers: Record<string, string>;
  tls: KubeTls;
}

export interface KubeAccess {
  /** https://host:port of the API server */
  readonly server: string;
  /** how the credentials were found, for the start-up log ("in-cluster", "kubeconfig") */
  readonly source: string;
  /**
   * The current credentials, read again from their source on every call: tokens rotate. The client calls this
   * once a minute and after a 401, not per request.
   */
  auth(): Promise<KubeAuth>;
}
