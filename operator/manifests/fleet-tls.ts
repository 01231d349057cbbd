// The fleet channel's TLS objects: the Secret with the CA and the serving certificate, and the ConfigMap with the
// CA alone that every node agent mounts. Pure builders; fleet/certificates.ts makes the certificates and
// fleet/tls.ts writes these.
import { FLEET_CA_KEY } from '../api/node-agent-config.ts';
import { FLEET_CA_CONFIGMAP, FLEET_TLS_SECRET, LABEL_MANAGED_BY, MANAGED_BY } from './names.ts';

interface Pem {
  cert: string;
  key: string;
}

export interface FleetTlsSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  type: 'kubernetes.io/tls';
  metadata: { name: string; namespace: string; labels: Record<string, string>; resourceVersion?: string };
  data: Record<string, string>;
}

export interface FleetCaConfigMap {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: { name: string; namespace: string; labels: Record<string, string>; resourceVersion?: string };
  data: Record<string, string>;
}

export const FLEET_LABELS: Record<string, string> = {
  'app.kubernetes.io/name': 'ssm-agent-operator',
  'app.kubernetes.io/component': 'fleet',
  [LABEL_MANAGED_BY]: MANAGED_BY,
};

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** The Secret: `tls.crt`/`tls.key` (serving, the kubernetes.io/tls keys) and `ca.crt`/`ca.key`. */
export function buildFleetTlsSecret(namespace: string, certs: { ca: Pem; serving: Pem }): FleetTlsSecret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: FLEET_TLS_SECRET, namespace, labels: { ...FLEET_LABELS } },
    data: { 'tls.crt': b64(certs.serving.cert), 'tls.key': b64(certs.serving.key), 'ca.crt': b64(certs.ca.cert), 'ca.key': b64(certs.ca.key) },
  };
}

/** The ConfigMap node agents mount to trust the operator: the CA certificate only, never a key. */
export function buildFleetCaConfigMap(namespace: string, caCertPem: string): FleetCaConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: FLEET_CA_CONFIGMAP, namespace, labels: { ...FLEET_LABELS } },
    data: { [FLEET_CA_KEY]: caCertPem },
  };
}
