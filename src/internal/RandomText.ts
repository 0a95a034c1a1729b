/**
 * Random text for ids: characters of an alphabet, drawn from a pool of random bytes that is
 * refilled 512 bytes at a time (one call to the system's generator serves many ids).
 *
 * @since 0.3.0
 */

const pool = new Uint8Array(512)
let used = pool.length

/**
 * `length` characters of `alphabet` (at most 512), each from one random byte.
 *
 * @since 0.3.0
 */
export const randomText = (alphabet: string, length: number): string => {
  if (used + length > pool.length) {
    globalThis.crypto.getRandomValues(pool)
    used = 0
  }
  let text = ""
  for (const end = used + length; used < end; used++) text += alphabet[pool[used]! % alphabet.length]
  return text
}
