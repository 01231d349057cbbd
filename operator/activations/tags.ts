// Tags the operator puts on the activations it creates (SSM copies them onto the instances registered with them)
// and on managed instances, so each instance can be traced to its cluster, config and node.
export const TAG_CLUSTER = 'ssmagent.io/cluster';
export const TAG_CONFIG = 'ssmagent.io/config';
export const TAG_NODE = 'ssmagent.io/node';
