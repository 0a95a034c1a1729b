/**
 * What a parse makes of a message's header fields, whichever parser read them: the names as
 * Mailpit gives them, the values unfolded, the tags and the return path.
 *
 * @since 0.2.0
 */

/**
 * Go's canonical form, as Mailpit names headers: `Message-Id`, `X-Mailer`, `Mime-Version`.
 *
 * @since 0.2.0
 * @category headers
 */
export const canonical = (name: string): string => {
  const known = canonicalNames.get(name)
  if (known !== undefined) return known
  const made = name
    .toLowerCase()
    .replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase())
  if (canonicalNames.size < maxCanonicalNames && name.length <= 64) canonicalNames.set(name, made)
  return made
}

// the same few names come with every message: each is made once (a sender's made-up names
// past the first thousand, or longer than 64 characters, are made again each time)
const canonicalNames = new Map<string, string>()
const maxCanonicalNames = 1000

/**
 * A field as it stands in the message (`Name: value\r\n continued`) as `[Name, "value
 * continued"]`.
 *
 * @since 0.2.0
 * @category headers
 */
export const field = (line: string): readonly [string, string] => {
  const colon = line.indexOf(":")
  const name = colon < 0 ? line.trim() : line.slice(0, colon).trim()
  const value = colon < 0 ? "" : line.slice(colon + 1)
  if (!value.includes("\n")) return [canonical(name), value.trim()]
  return [
    canonical(name),
    value
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== "")
      .join(" ")
  ]
}

/**
 * The X-Tags fields' tags, each once, in order.
 *
 * @since 0.2.0
 * @category headers
 */
export const tagsOf = (headers: ReadonlyArray<readonly [string, string]>): Array<string> =>
  headers
    .filter(([name]) => name === "X-Tags")
    .flatMap(([, value]) => value.split(","))
    .map((tag) => tag.trim())
    .filter((tag, i, all) => tag !== "" && all.indexOf(tag) === i)

/**
 * The Return-Path field's address, without its angle brackets (`""` when there is none).
 *
 * @since 0.2.0
 * @category headers
 */
export const returnPathOf = (headers: ReadonlyArray<readonly [string, string]>): string =>
  (headers.find(([name]) => name === "Return-Path")?.[1] ?? "").replace(/^\s*<|>\s*$/g, "")
