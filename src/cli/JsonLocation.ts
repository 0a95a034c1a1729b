/**
 * Where a value sits in a JSON text, so that a configuration error can name its line: a small
 * scanner that records the offset of every value by its path. It expects text that
 * `JSON.parse` accepted.
 *
 * @since 0.1.0
 */

type Path = ReadonlyArray<string | number>

/**
 * The 1-based line of the value at `path`, or of its nearest ancestor that exists.
 *
 * @since 0.1.0
 * @category getters
 */
export const lineOf = (text: string, path: Path): number => {
  const offsets = new Map<string, number>()
  let i = 0
  const space = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++
  }
  const string = () => {
    const start = i++
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1
    i++
    return JSON.parse(text.slice(start, i)) as string
  }
  const value = (at: Path): void => {
    space()
    offsets.set(JSON.stringify(at), i)
    const c = text[i]
    if (c === "{") {
      i++
      space()
      while (text[i] !== "}" && i < text.length) {
        space()
        const key = string()
        space()
        i++ // :
        value([...at, key])
        space()
        if (text[i] === ",") i++
        space()
      }
      i++
    } else if (c === "[") {
      i++
      space()
      for (let n = 0; text[i] !== "]" && i < text.length; n++) {
        value([...at, n])
        space()
        if (text[i] === ",") i++
        space()
      }
      i++
    } else if (c === '"') {
      string()
    } else {
      while (i < text.length && !/[\s,\]}]/.test(text[i]!)) i++
    }
  }
  value([])
  for (let n = path.length; n >= 0; n--) {
    const offset = offsets.get(JSON.stringify(path.slice(0, n)))
    if (offset !== undefined) return lineAt(text, offset)
  }
  return 1
}

/**
 * The 1-based line of an offset.
 *
 * @since 0.1.0
 * @category getters
 */
export const lineAt = (text: string, offset: number): number => text.slice(0, offset).split("\n").length
