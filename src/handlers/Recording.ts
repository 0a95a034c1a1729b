/**
 * Keeps every accepted message in memory, for your tests: provide `Recording.layer` as the
 * handler, send mail, then read `Recording.deliveries`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Message from "../handler/Message.js"
import * as MessageHandler from "../handler/MessageHandler.js"
import type { Endpoint } from "../handler/SessionInfo.js"
import type * as Session from "../protocol/Session.js"

/**
 * One accepted message, with its exact bytes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Delivery {
  readonly peer: Endpoint
  readonly helo: string | undefined
  readonly envelope: Session.Envelope
  readonly mailFrom: string
  readonly rcptTos: ReadonlyArray<string>
  readonly data: Uint8Array
}

/**
 * The recorded deliveries, in the order they were accepted.
 *
 * @since 0.1.0
 * @category services
 */
export class Recording extends Context.Service<
  Recording,
  {
    readonly deliveries: Effect.Effect<ReadonlyArray<Delivery>>
    readonly clear: Effect.Effect<void>
  }
>()("effect-smtpd/Recording") {}

/**
 * All deliveries so far.
 *
 * @since 0.1.0
 * @category accessors
 */
export const deliveries: Effect.Effect<ReadonlyArray<Delivery>, never, Recording> = Effect.flatMap(
  Recording,
  (recording) => recording.deliveries
)

/**
 * Provides a `MessageHandler` that records, and the `Recording` to read them back.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<MessageHandler.MessageHandler | Recording> = Layer.effectContext(
  Effect.gen(function* () {
    const ref = yield* Ref.make<ReadonlyArray<Delivery>>([])
    const handler = MessageHandler.make({
      data: (session, message) =>
        Effect.flatMap(Message.bytes(message), (data) =>
          Ref.update(ref, (all) => [
            ...all,
            {
              peer: session.peer,
              helo: session.greeting?.name,
              envelope: message.envelope,
              mailFrom: Message.mailFrom(message),
              rcptTos: Message.rcptTos(message),
              data
            }
          ])
        )
    })
    return Context.make(MessageHandler.MessageHandler, handler).pipe(
      Context.add(Recording, { deliveries: Ref.get(ref), clear: Ref.set(ref, []) })
    )
  })
)
