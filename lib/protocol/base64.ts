/** Bytes ↔ base64 text, for process streams carried on a child's JSON channel. */

const SLICE = 0x2000;

/**
 * Encodes bytes as base64.
 * @param bytes the bytes
 * @returns their base64 text
 * @example
 * ```ts
 * encodeBase64(new TextEncoder().encode("hi")); // "aGk="
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += SLICE) {
    binary += String.fromCharCode(...bytes.subarray(i, i + SLICE));
  }
  return btoa(binary);
}

/**
 * Decodes base64 text; throws on text that is not base64.
 * @param text base64 text
 * @returns the bytes it encodes
 */
export function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
