// Splits input at the given offsets (any order, out-of-range ones ignored), as socket reads would.
export const chunked = (input: Uint8Array, cuts: ReadonlyArray<number>): ReadonlyArray<Uint8Array> => {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < input.length))].sort((a, b) => a - b)
  return [0, ...points].map((start, i) => input.subarray(start, points[i] ?? input.length))
}
