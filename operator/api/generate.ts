// Writes the generated CRD to crds/ (for kubectl apply) and into the chart's files/crds/ (rendered by
// templates/crds.yaml, so that helm upgrade upgrades it). `--check` exits 1 when the files are stale.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrdYaml } from './crd-yaml.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const GENERATED_CRD_FILES = ['crds/ssmagent.io_ssmagentconfigs.yaml', 'charts/ssm-agent-operator/files/crds/ssmagent.io_ssmagentconfigs.yaml'];

async function main(check: boolean): Promise<number> {
  const yaml = renderCrdYaml();
  let stale = 0;
  for (const rel of GENERATED_CRD_FILES) {
    const path = join(root, rel);
    const current = await readFile(path, 'utf8').catch(() => '');
    if (current === yaml) continue;
    if (check) {
      console.error(`${rel} is stale: run npm run generate`);
      stale++;
    } else {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, yaml);
      console.log(`wrote ${rel}`);
    }
  }
  return stale > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.includes('--check'));
