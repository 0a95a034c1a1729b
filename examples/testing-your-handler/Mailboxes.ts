/**
 * A service the handler needs: which mailboxes exist, and where a message for them goes. In an
 * application it would be a database or a mail store; the tests give their own.
 */
import { Context, Effect, Layer } from "effect"

export class Mailboxes extends Context.Service<
  Mailboxes,
  {
    readonly exists: (address: string) => Effect.Effect<boolean>
    readonly deliver: (addresses: ReadonlyArray<string>, content: string) => Effect.Effect<void>
  }
>()("example/Mailboxes") {}

/** Mailboxes in memory: the addresses given, and what was delivered to each. */
export const inMemory = (addresses: ReadonlyArray<string>) => {
  const delivered = new Map<string, Array<string>>(addresses.map((address) => [address.toLowerCase(), []]))
  const layer = Layer.succeed(Mailboxes)({
    exists: (address) => Effect.sync(() => delivered.has(address.toLowerCase())),
    deliver: (to, content) =>
      Effect.sync(() => {
        for (const address of to) delivered.get(address.toLowerCase())?.push(content)
      })
  })
  return { layer, delivered }
}
