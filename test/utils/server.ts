// A real server on a free loopback port, recording what it accepts.
import { Effect, Layer } from "effect"
import { python, type Result } from "./process.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as Recording from "../../src/handlers/Recording.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"

export const layer = (options: NodeSmtpServer.Options = {}) =>
  NodeSmtpServer.layer({ listen: "127.0.0.1:0", hostname: "mx.test", ...options }).pipe(
    Layer.provideMerge(Recording.layer)
  )

export const port = Effect.map(SmtpServer, (server) => server.addresses[0]!.port)

/** The deliveries for one recipient (each test uses its own). */
export const deliveriesTo = (recipient: string) =>
  Effect.map(Recording.deliveries, (all) => all.filter((d) => d.rcptTos.includes(recipient)))

export const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")

/** Runs a Python script that starts with `s`, an smtplib client connected to the server. */
export const smtplib = (script: string): Effect.Effect<Result, never, SmtpServer> =>
  Effect.flatMap(port, (p) =>
    Effect.promise(() => python(`import smtplib\ns = smtplib.SMTP("127.0.0.1", ${p})\n${script.trim()}\n`))
  )
