/** Test helper: reads a systemd unit file (deploy/container-runtime.service) as sections of keys. */

/**
 * `[Section] Key=value` of a unit file; repeated keys are joined with newlines.
 * @example
 * ```ts
 * parseUnit("[Service]\nEnvironment=A=1\nEnvironment=B=2\n").Service.Environment; // "A=1\nB=2"
 * ```
 * @param text the unit file's text
 * @returns section name → key → value
 */
export function parseUnit(text: string): Record<string, Record<string, string>> {
  const sections: Record<string, Record<string, string>> = {};
  let current: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const header = line.match(/^\[(\w+)\]$/);
    if (header) sections[header[1]] = current = {};
    const pair = line.match(/^([\w-]+)=(.*)$/);
    if (pair) current[pair[1]] = current[pair[1]] ? `${current[pair[1]]}\n${pair[2]}` : pair[2];
  }
  return sections;
}
