/**
 * Random text for ids: characters of an alphabet, drawn from a pool of random bytes that is
 * refilled 8 KiB at a time: a call to the system's generator costs about the same for 512
 * bytes as for 8 KiB, so one call serves ~370 of the inbox's ids instead of 23.
 *
 * @since 0.3.0
 */

const pool = new Uint8Array(8192)
let used = pool.length

/**
 * `length` characters of `alphabet` (at most 8,192), each from one random byte.
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
