// A library server whose `data` hook drains the body: the like-for-like peer of smtp-server's
// bench adapter (its onData consumes the stream), for ../shared/bench/run. Needs `npm run build`.
//
//   ../shared/bench/run --peers smtp-server --target 'node_modules/.bin/node bench/drain-handler.mjs {port}'
import { NodeRuntime } from "@effect/platform-node"
import { Layer, Stream } from "effect"
import { MessageHandler } from "../dist/index.js"
import * as NodeSmtpServer from "../dist/node/NodeSmtpServer.js"

const port = process.argv[2] ?? "2525"
const handler = MessageHandler.layer({ data: (_, message) => Stream.runDrain(message.body) })
NodeSmtpServer.layer({ listen: [`127.0.0.1:${port}`], maxMessageSize: 0 }).pipe(
  Layer.provide(handler),
  Layer.launch,
  NodeRuntime.runMain
)
