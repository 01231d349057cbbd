// The second EC2 signal, beside IMDS: the firmware's own words. Nitro instances say "Amazon EC2" as system, board
// or BIOS vendor; older Xen ones have a product (or hypervisor) UUID starting with "ec2". Pure.

/** The files read from the host (their text, undefined when absent or unreadable). */
export const DMI_FILES = ['/sys/class/dmi/id/sys_vendor', '/sys/class/dmi/id/board_vendor', '/sys/class/dmi/id/bios_vendor', '/sys/class/dmi/id/product_uuid', '/sys/hypervisor/uuid'] as const;

export function ec2HardwareFromDmi(files: Readonly<Partial<Record<(typeof DMI_FILES)[number], string>>>): boolean {
  const vendor = [files['/sys/class/dmi/id/sys_vendor'], files['/sys/class/dmi/id/board_vendor'], files['/sys/class/dmi/id/bios_vendor']];
  if (vendor.some((v) => v !== undefined && /^amazon ec2$/i.test(v.trim()))) return true;
  const uuids = [files['/sys/class/dmi/id/product_uuid'], files['/sys/hypervisor/uuid']];
  return uuids.some((u) => u !== undefined && /^ec2/i.test(u.trim()));
}
