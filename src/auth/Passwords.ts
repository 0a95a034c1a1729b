/**
 * Password hashing for user files: scrypt (RFC 7914) through `node:crypto`, and checks that
 * take the same time whether a guess is close or not.
 *
 * A hash is one line of text, six fields joined by `$`:
 *
 * ```text
 * scrypt$<N>$<r>$<p>$<salt>$<key>
 * scrypt$16384$8$1$3q2+7wAAAAAAAAAAAAAAAA==$<44 characters of base64>
 * ```
 *
 * `N` (the CPU/memory cost, a power of two), `r` (the block size) and `p` (the parallelism)
 * are decimal; `salt` and `key` are standard base64 with padding. `hash` uses N=16384, r=8,
 * p=1, a random 16-byte salt and a 32-byte key — OWASP's minimum for scrypt, about 50 ms and
 * 16 MiB per check. `verify` reads the parameters from the hash, so hashes made with other
 * costs (within the limits below) keep working.
 *
 * @since 0.1.0
 */
import * as Crypto from "node:crypto"
import * as Effect from "effect/Effect"

const prefix = "scrypt$"
const defaults = { N: 16384, r: 8, p: 1 } as const
const saltBytes = 16
const keyBytes = 32

// Limits on parameters read from a hash: a hash comes from a file someone can edit, and one
// with N=2^30 would make every login allocate gigabytes
const maxMemory = 256 * 1024 * 1024
const maxParallelism = 16

interface Parsed {
  readonly N: number
  readonly r: number
  readonly p: number
  readonly salt: Buffer
  readonly key: Buffer
}

const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const decimal = /^[1-9][0-9]{0,9}$/

// scrypt's working memory is 128·N·r bytes (RFC 7914 §2); Node refuses to pass `maxmem`
const memoryOf = (N: number, r: number) => 128 * N * r

const parse = (stored: string): Parsed | undefined => {
  const fields = stored.split("$")
  if (fields.length !== 6 || fields[0] !== "scrypt") return undefined
  const [, n = "", r = "", p = "", salt = "", key = ""] = fields
  if (!decimal.test(n) || !decimal.test(r) || !decimal.test(p)) return undefined
  if (!base64.test(salt) || !base64.test(key)) return undefined
  const parsed = {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    salt: Buffer.from(salt, "base64"),
    key: Buffer.from(key, "base64")
  }
  const powerOfTwo = parsed.N > 1 && (parsed.N & (parsed.N - 1)) === 0
  if (!powerOfTwo || memoryOf(parsed.N, parsed.r) > maxMemory || parsed.p > maxParallelism) return undefined
  if (parsed.salt.length < 8 || parsed.key.length < 16 || parsed.key.length > 64) return undefined
  return parsed
}

const scrypt = (password: string, salt: Buffer, length: number, params: { N: number; r: number; p: number }) =>
  Effect.callback<Buffer, Error>((resume) => {
    Crypto.scrypt(
      password,
      salt,
      length,
      { ...params, maxmem: memoryOf(params.N, params.r) + 1024 * 1024 },
      (error, key) => resume(error === null ? Effect.succeed(key) : Effect.fail(error))
    )
  })

/**
 * Is `stored` a well-formed hash in the format above (as opposed to a plaintext password or a
 * damaged hash)?
 *
 * @since 0.1.0
 * @category guards
 */
export const isHash = (stored: string): boolean => parse(stored) !== undefined

/**
 * Does `stored` claim to be a hash (it starts with `scrypt$`), well-formed or not? A damaged
 * hash must never be taken for a plaintext password, or the hash text itself would log in.
 *
 * @since 0.1.0
 * @category guards
 */
export const looksLikeHash = (stored: string): boolean => stored.startsWith(prefix)

/**
 * Hashes a password with scrypt (N=16384, r=8, p=1) and a fresh random salt. The password's
 * UTF-8 bytes are hashed as they are (no normalisation), as the client will send them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const hash = (password: string): Effect.Effect<string> =>
  Effect.gen(function* () {
    const salt = Crypto.randomBytes(saltBytes)
    const key = yield* Effect.orDie(scrypt(password, salt, keyBytes, defaults))
    return `${prefix}${defaults.N}$${defaults.r}$${defaults.p}$${salt.toString("base64")}$${key.toString("base64")}`
  })

// Plaintext is compared through HMACs under a key of this process: equal-length digests for
// `timingSafeEqual`, whatever the lengths of the two texts, so the time says nothing about
// how long the stored password is or how much of it a guess got right
const hmacKey = Crypto.randomBytes(32)
const digest = (text: string) => Crypto.createHmac("sha256", hmacKey).update(text, "utf8").digest()

/**
 * Compares two texts in time independent of where they differ and of their lengths.
 *
 * @since 0.1.0
 * @category utils
 */
export const equalsConstantTime = (a: string, b: string): boolean => Crypto.timingSafeEqual(digest(a), digest(b))

/**
 * Checks `password` against `stored`: a hash made by `hash` (any parameters within the limits
 * above), or else a plaintext password. Both comparisons run in constant time. A value that
 * starts with `scrypt$` but is not a well-formed hash matches nothing.
 *
 * @since 0.1.0
 * @category utils
 */
export const verify = (password: string, stored: string): Effect.Effect<boolean> => {
  if (!looksLikeHash(stored)) return Effect.sync(() => equalsConstantTime(password, stored))
  const parsed = parse(stored)
  if (parsed === undefined) return Effect.succeed(false)
  return scrypt(password, parsed.salt, parsed.key.length, parsed).pipe(
    Effect.map((key) => Crypto.timingSafeEqual(key, parsed.key)),
    Effect.orElseSucceed(() => false)
  )
}

/**
 * The CRAM-MD5 digest a client computes (RFC 2195 §2): HMAC-MD5 keyed with the password over
 * the challenge, as 32 lowercase hex digits.
 *
 * @since 0.1.0
 * @category utils
 */
export const cramMd5Digest = (password: string, challenge: string): string =>
  Crypto.createHmac("md5", password).update(challenge).digest("hex")

/**
 * Checks a CRAM-MD5 `digest` against the one `password` gives for `challenge`, in constant
 * time.
 *
 * @since 0.1.0
 * @category utils
 */
export const verifyCramMd5 = (password: string, challenge: string, digest: string): Effect.Effect<boolean> =>
  Effect.sync(() => equalsConstantTime(cramMd5Digest(password, challenge), digest))
