// What both demos print with: colours only on a terminal (and never under NO_COLOR), numbered sections stamped with
// the time since the demo started, notes and indented command output.
const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code: string) => (s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
export const bold = paint('1');
export const dim = paint('2');
export const cyan = paint('36');
export const green = paint('32');
export const red = paint('31');
export const yellow = paint('33');

const started = Date.now();
export const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
export const say = (text: string): void => console.log(text);
export const note = (text: string): void => console.log(yellow(`» ${text}`));
export const indent = (text: string): string =>
  text
    .replace(/\s+$/, '')
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

export function section(title: string): void {
  const head = `${title} `;
  console.log(`\n${bold(cyan(`━━ ${head}${'━'.repeat(Math.max(4, 72 - head.length))}`))} ${dim(`[${elapsed()}]`)}`);
}
