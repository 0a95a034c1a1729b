/**
 * The message handler that `--class` names, built from the flags that go with it.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as SmtpClient from "../client/SmtpClient.js"
import type * as TlsLevel from "../client/TlsLevel.js"
import type { MessageHandler } from "../handler/MessageHandler.js"
import type * as Chaos from "../inbox/Chaos.js"
import type * as Inbox from "../inbox/Inbox.js"
import type { InboxOpenError } from "../node/NodeInbox.js"
import * as Debugging from "../handlers/Debugging.js"
import * as Maildir from "../handlers/Maildir.js"
import * as Received from "../handlers/Received.js"
import * as Relay from "../handlers/Relay.js"
import * as Router from "../handlers/Router.js"
import * as Sink from "../handlers/Sink.js"
import * as NodeSmtpClient from "../node/NodeSmtpClient.js"
import type { ConfigError } from "../server/ServerConfig.js"
import { type Parsed, UsageError } from "./Options.js"
import * as RoutesFile from "./RoutesFile.js"
import * as UpstreamAddress from "./UpstreamAddress.js"

/**
 * The client options of the upstream at `address` (`remoteaddr`, a route's `relay`), with the
 * `--upstream-*` flags.
 *
 * @since 0.2.0
 * @category constructors
 */
export const upstreamOf = (parsed: Parsed, address: string) =>
  Effect.gen(function* () {
    const { host, lmtp, port } = UpstreamAddress.parse(address)!
    const fs = yield* FileSystem.FileSystem
    const ca = Option.isSome(parsed.upstreamCa)
      ? yield* fs
          .readFileString(parsed.upstreamCa.value)
          .pipe(Effect.mapError((e) => new UsageError({ message: `--upstream-ca: ${e.message}` })))
      : undefined
    const user = Option.getOrUndefined(parsed.upstreamUser)
    const password = Option.getOrUndefined(parsed.upstreamPassword)
    if ((user === undefined) !== (password === undefined)) {
      return yield* new UsageError({
        message:
          "--upstream-user needs a password (--upstream-password or EFFECT_SMTPD_UPSTREAM_PASSWORD), and the other way round"
      })
    }
    const options: SmtpClient.Options = {
      host,
      port,
      lmtp,
      security: tlsLevelOf(parsed.upstreamTls),
      implicitTls: parsed.upstreamImplicitTls || parsed.upstreamTls === "implicit",
      tls: { ca },
      auth: user === undefined || password === undefined ? undefined : { user, password }
    }
    return options
  })

// --upstream-tls: Postfix's levels, or the names this option had before them
const tlsLevelOf = (given: Parsed["upstreamTls"]): TlsLevel.TlsLevel => {
  switch (given) {
    case "off":
      return "none"
    case "opportunistic":
      return "may"
    case "required":
    case "implicit":
      return "verify"
    default:
      return given
  }
}

// --no-received and --max-hops, for the handlers that add a Received: field / count them
const trace = (parsed: Parsed) => ({ received: parsed.received, maxReceived: parsed.maxHops })

// queue mode takes the MailQueue from the context (Queueing.layer); its route is routeOf(upstream)
const relayLayer = (parsed: Parsed, hostPort: string, mode: "forward" | "queue") =>
  Effect.map(upstreamOf(parsed, hostPort), (upstream) =>
    Relay.layer({
      upstream,
      mode,
      relayNetworks: parsed.relayNetworks.split(",").filter((n) => n.trim() !== ""),
      ...trace(parsed)
    }).pipe(Layer.provide(NodeSmtpClient.layer))
  )

const deliverLayer = (parsed: Parsed, deliver: RoutesFile.Deliver) => {
  if (deliver === "sink") return Effect.succeed(Sink.layer)
  if (deliver === "debug") return Effect.succeed(Debugging.layer({ format: parsed.format }))
  if ("maildir" in deliver)
    return Effect.succeed(Maildir.layerNode({ root: deliver.maildir, received: parsed.received }))
  return relayLayer(parsed, deliver.relay, deliver.mode ?? parsed.relayMode)
}

/**
 * The routes file of `--routes`, its mistakes a usage error.
 *
 * @since 0.2.0
 * @category constructors
 */
export const loadRoutes = (file: string): Effect.Effect<RoutesFile.RoutesFile, UsageError, FileSystem.FileSystem> =>
  RoutesFile.load(file).pipe(Effect.mapError((message) => new UsageError({ message })))

const routerLayer = (parsed: Parsed, file: string) =>
  Effect.gen(function* () {
    const config = yield* loadRoutes(file)
    const routes = yield* Effect.forEach(config.routes, (route) =>
      Effect.map(deliverLayer(parsed, route.deliver), (handler) =>
        "address" in route
          ? Router.address(route.address, handler)
          : "localPart" in route
            ? Router.localPart(
                new RegExp(route.localPart),
                handler,
                route.domain === undefined ? {} : { domain: route.domain }
              )
            : Router.domain(route.domain, handler)
      )
    )
    const fallback = config.fallback === undefined ? undefined : yield* deliverLayer(parsed, config.fallback)
    return Router.layer({ routes, fallback, ...trace(parsed) })
  })

/**
 * The message handler `--class` names, with what its flags give it; `inbox` is where
 * `--class Inbox` stores (Inboxing's).
 *
 * @since 0.1.0
 * @category constructors
 */
export const handlerLayer = (
  parsed: Parsed,
  inbox?: Layer.Layer<Inbox.Inbox | Chaos.Chaos, InboxOpenError> | undefined
): Effect.Effect<Layer.Layer<MessageHandler, ConfigError | InboxOpenError>, UsageError, FileSystem.FileSystem> => {
  switch (parsed.handlerClass) {
    case "DebuggingServer":
      return Effect.succeed(Debugging.layer({ format: parsed.format }))
    case "Sink":
      return Effect.succeed(Sink.layer)
    case "Maildir":
      return Option.match(parsed.maildir, {
        onNone: () => Effect.fail(new UsageError({ message: "--class Maildir needs --maildir DIR" })),
        onSome: (root) => Effect.succeed(Maildir.layerNode({ root, received: parsed.received }))
      })
    case "PureProxy":
      return relayLayer(
        parsed,
        Option.getOrElse(parsed.remoteaddr, () => "localhost:25"),
        parsed.relayMode
      )
    case "Router":
      return Option.match(parsed.routes, {
        onNone: () => Effect.fail(new UsageError({ message: "--class Router needs --routes FILE" })),
        onSome: (file) => routerLayer(parsed, file)
      })
    case "Inbox":
      // the handler loaded only here, as Inboxing loads the inbox it stores into
      if (inbox === undefined) return Effect.fail(new UsageError({ message: "--class Inbox needs its inbox" }))
      return Effect.map(
        Effect.promise(() => import("../inbox/InboxHandler.js")),
        (InboxHandler) => InboxHandler.layer.pipe(Layer.provide(inbox))
      )
  }
}

/**
 * The SIZE the server advertises (its `maxMessageSize`): `--size`, but in front of a relay less
 * what the relay adds to each message (its `Received:` and `X-Peer` lines) and no more than the
 * upstream's own SIZE, read from it at start-up, so that a message of exactly the advertised
 * size is never refused upstream. Behind a Router the Router's `Received:` counts too.
 *
 * @since 0.2.0
 * @category constructors
 */
export const advertisedSize = (parsed: Parsed): Effect.Effect<number, UsageError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const options = trace(parsed)
    if (parsed.handlerClass === "PureProxy") {
      const upstream = yield* upstreamOf(
        parsed,
        Option.getOrElse(parsed.remoteaddr, () => "localhost:25")
      )
      const size = yield* Relay.probeSize(upstream).pipe(
        Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.succeed(undefined) }),
        Effect.provide(NodeSmtpClient.layer)
      )
      return Relay.advertisedSize(options, parsed.size, size)
    }
    if (parsed.handlerClass !== "Router" || Option.isNone(parsed.routes) || parsed.size === 0) return parsed.size
    const config = yield* loadRoutes(parsed.routes.value)
    return RoutesFile.relays(config).length > 0
      ? Math.max(1, Relay.advertisedSize(options, parsed.size) - (parsed.received ? Received.maxLength : 0))
      : parsed.size
  })
