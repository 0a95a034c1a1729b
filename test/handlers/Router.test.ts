// The router (smtpd's MailmanProxy, generalised) on a real server with Python's smtplib as the
// client: which route each recipient takes, the body fanned out to every route involved, the one
// reply SMTP allows for them all, and transactions that end early.
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Relay from "../../src/handlers/Relay.js"
import * as Router from "../../src/handlers/Router.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import {
  bytes,
  collectRefusals,
  type Listening,
  ourReceived,
  peelReceived,
  quick,
  type Recorder,
  recorder,
  sendOne,
  smtplib,
  text,
  type Transaction,
  withHandler,
  withUpstream
} from "../utils/relay.js"
import { skipWithout } from "../utils/tools.js"

// a service the predicate route asks: the local users
class Directory extends Context.Service<Directory, ReadonlySet<string>>()("test/Directory") {}

const relay = (upstream: Listening, mode: "forward" | "queue" = "forward") =>
  Relay.layer({ upstream: { host: upstream.host, port: upstream.port, startTls: "off", timeouts: quick }, mode })

const tricky = bytes(
  "From: a@example.com\r\nSubject: routed\r\n\r\n",
  ".leading dot\r\n.\r\n..\r\n",
  Uint8Array.from({ length: 128 }, (_, i) => 0x80 + i),
  "\r\nend\r\n"
)

const plain = "Subject: hello\r\n\r\nHello.\r\n"

// what a route got: the recipients of each message, in its envelope and in the session's
const got = (route: Recorder) =>
  Effect.map(route.deliveries, (all) => all.map((d) => ({ rcptTos: d.rcptTos, session: d.sessionRcptTos })))

describe.skipIf(skipWithout("python3"))("Router routes", () => {
  it.live("sends each recipient to the first route that matches, the rest to the fallback", () =>
    Effect.gen(function* () {
      const upstream = yield* withUpstream()
      const [postmaster, vip, lists, bots, users, unused] = yield* Effect.all(
        Array.from({ length: 6 }, () => recorder())
      )
      // explicit: TypeScript does not unite the predicate's Directory with the fallback's SmtpClient
      const router = Router.layer({
        routes: [
          Router.address("Postmaster@Example.COM", postmaster!.layer),
          Router.address("vip@lists.test", vip!.layer),
          Router.domain("Lists.Test", lists!.layer),
          Router.localPart(/^bot-\d+$/, bots!.layer, { domain: "example.com" }),
          Router.when(
            (recipient, session) =>
              Effect.map(Directory, (users) => session.peer.address === "127.0.0.1" && users.has(recipient)),
            users!.layer
          ),
          Router.address("nobody@nowhere.test", unused!.layer)
        ],
        fallback: relay(upstream)
      }).pipe(Layer.provide(Layer.succeed(Directory, new Set(["alice@example.com", "bot-2@example.com"]))))
      const server = yield* withHandler(router)
      const result = yield* sendOne(
        server,
        "sender@example.org",
        [
          "postmaster@example.com",
          "VIP@lists.test",
          "news@lists.test",
          "bot-1@example.com",
          "bot-2@example.com",
          "bot-1@other.test",
          "alice@example.com",
          "refuse-me@other.test",
          "bob@example.com"
        ],
        tricky
      )
      expect(result.rcpt["refuse-me@other.test"]).toEqual([550, "5.1.1 No such user upstream"])
      expect(Object.entries(result.rcpt).filter(([, reply]) => reply[0] !== 250)).toHaveLength(1)
      expect(result.data).toEqual([250, "2.0.0 Ok: message accepted"])

      const only = (...rcptTos: Array<string>) => [{ rcptTos, session: rcptTos }]
      expect(yield* got(postmaster!)).toEqual(only("postmaster@example.com"))
      expect(yield* got(vip!)).toEqual(only("VIP@lists.test"))
      expect(yield* got(lists!)).toEqual(only("news@lists.test"))
      expect(yield* got(bots!)).toEqual(only("bot-1@example.com", "bot-2@example.com"))
      expect(yield* got(users!)).toEqual(only("alice@example.com"))
      expect(yield* unused!.events).toEqual([])
      const relayed = yield* upstream.deliveries
      expect(relayed.map((d) => d.rcptTos)).toEqual([["bot-1@other.test", "bob@example.com"]])
      // one Received: per copy, the router's, naming the recipient where the route has one;
      // the relay route adds none of its own and puts its X-Peer under it
      expect(peelReceived(text(relayed[0]!.data))).toMatchObject({
        received: [ourReceived({ by: "relay.test" })],
        rest: "X-Peer: 127.0.0.1\r\n" + text(tricky)
      })
      const ones = {
        postmaster: "postmaster@example.com",
        vip: "VIP@lists.test",
        lists: "news@lists.test",
        users: "alice@example.com"
      }
      for (const [route, only] of [
        [postmaster, ones.postmaster],
        [vip, ones.vip],
        [lists, ones.lists],
        [bots, undefined],
        [users, ones.users]
      ] as const) {
        const [delivery] = yield* route!.deliveries
        expect(peelReceived(text(delivery!.data))).toMatchObject({
          received: [ourReceived({ by: "relay.test", for: only })],
          rest: text(tricky)
        })
        expect(delivery!.mailFrom).toBe("sender@example.org")
      }
    })
  )

  it.live("refuses a recipient no route takes with 550 5.1.1 at RCPT when there is no fallback", () =>
    Effect.gen(function* () {
      const local = yield* recorder()
      const server = yield* withHandler(Router.layer({ routes: [Router.domain("example.com", local.layer)] }))
      const result = yield* sendOne(server, "a@example.org", ["x@other.test", "y@example.com"], plain)
      expect(result.rcpt).toEqual({
        "x@other.test": [550, "5.1.1 Mailbox not found"],
        "y@example.com": [250, "2.1.5 Ok"]
      })
      expect(result.data?.[0]).toBe(250)
      expect(yield* got(local)).toEqual([{ rcptTos: ["y@example.com"], session: ["y@example.com"] }])
    })
  )

  it.live("gives a route's refusal of MAIL or RCPT to that RCPT", () =>
    Effect.gen(function* () {
      const picky = yield* recorder({
        mail: (from) => (from.startsWith("spam") ? new SmtpError.BadSender({ text: "No spam" }) : undefined),
        rcpt: (address) => (address.startsWith("gone") ? new SmtpError.MailboxNotFound({ text: "Gone" }) : undefined)
      })
      const other = yield* recorder()
      const server = yield* withHandler(
        Router.layer({ routes: [Router.domain("picky.test", picky.layer)], fallback: other.layer })
      )
      const [spam, gone] = yield* smtplib<[Transaction, Transaction]>(
        server,
        `s = connect()
spam = transaction(s, "spam@example.org", ["a@picky.test", "b@other.test"])
gone = transaction(s, "ham@example.org", ["gone@picky.test", "c@picky.test"])
report([spam, gone])
s.quit()`,
        plain
      )
      expect(spam.rcpt).toEqual({ "a@picky.test": [501, "5.1.7 No spam"], "b@other.test": [250, "2.1.5 Ok"] })
      expect(gone.rcpt).toEqual({ "gone@picky.test": [550, "5.1.1 Gone"], "c@picky.test": [250, "2.1.5 Ok"] })
      expect(yield* got(picky)).toEqual([{ rcptTos: ["c@picky.test"], session: ["c@picky.test"] }])
      expect(yield* got(other)).toEqual([{ rcptTos: ["b@other.test"], session: ["b@other.test"] }])
    })
  )
})

describe.skipIf(skipWithout("python3"))("Router fan-out", () => {
  it.live("gives every route the same bytes and only its own recipients", () =>
    Effect.gen(function* () {
      const upstream = yield* withUpstream()
      const x = yield* recorder()
      const y = yield* recorder()
      const server = yield* withHandler(
        Router.layer({
          routes: [Router.domain("x.test", x.layer), Router.domain("y.test", y.layer)],
          fallback: relay(upstream)
        })
      )
      const result = yield* sendOne(
        server,
        "a@example.org",
        ["x1@x.test", "y1@y.test", "z@z.test", "x2@x.test"],
        tricky,
        ["BODY=8BITMIME"]
      )
      expect(result.data).toEqual([250, "2.0.0 Ok: message accepted"])
      expect(yield* got(x)).toEqual([{ rcptTos: ["x1@x.test", "x2@x.test"], session: ["x1@x.test", "x2@x.test"] }])
      expect(yield* got(y)).toEqual([{ rcptTos: ["y1@y.test"], session: ["y1@y.test"] }])
      const relayed = yield* upstream.deliveries
      expect(relayed.map((d) => [d.rcptTos, d.mailParameters])).toEqual([[["z@z.test"], ["BODY=8BITMIME"]]])
      expect(peelReceived(text(relayed[0]!.data)).rest).toBe("X-Peer: 127.0.0.1\r\n" + text(tricky))
      expect(peelReceived(text((yield* x.deliveries)[0]!.data)).rest).toBe(text(tricky))
      expect(peelReceived(text((yield* y.deliveries)[0]!.data)).rest).toBe(text(tricky))
    })
  )

  it.live("feeds a slow route all of 5 MB while a route that ignores the body does not hold anyone up", () =>
    Effect.gen(function* () {
      const upstream = yield* withUpstream({ maxMessageSize: 0 })
      const slow = yield* recorder({ body: { pause: "5 millis" } })
      const ignoring = yield* recorder({ body: "ignore" })
      const server = yield* withHandler(
        Router.layer({
          routes: [Router.domain("slow.test", slow.layer), Router.domain("ignore.test", ignoring.layer)],
          fallback: relay(upstream)
        }),
        { maxMessageSize: 0 }
      )
      const line = (i: number) => `${String(i).padStart(7, "0")} ${"y".repeat(90)}\r\n`
      const big = "Subject: big\r\n\r\n" + Array.from({ length: 50_000 }, (_, i) => line(i)).join("")
      expect(big.length).toBeGreaterThan(5_000_000)
      const result = yield* sendOne(server, "a@example.org", ["s@slow.test", "i@ignore.test", "r@remote.test"], big)
      expect(result.data).toEqual([250, "2.0.0 Ok: message accepted"])
      const [slowly] = yield* slow.deliveries
      const [ignored] = yield* ignoring.deliveries
      const [relayed] = yield* upstream.deliveries
      const slowRest = peelReceived(text(slowly!.data)).rest
      expect(slowRest.length).toBe(big.length)
      expect(slowRest === big).toBe(true)
      expect(peelReceived(text(relayed!.data)).rest === "X-Peer: 127.0.0.1\r\n" + big).toBe(true)
      expect(ignored!.data.length).toBe(0)
      expect(ignored!.doneAt).toBeLessThan(slowly!.doneAt)
    })
  )
})

describe.skipIf(skipWithout("python3"))("Router reply", () => {
  const transient = new SmtpError.Custom({ code: 451, enhanced: "4.3.0", text: "Try again (T)" })
  const permanent = new SmtpError.MailboxNotFound({ text: "Gone (P)" })
  const otherPermanent = new SmtpError.Custom({ code: 554, enhanced: "5.6.0", text: "Bad content (Q)" })

  const setup = Effect.gen(function* () {
    const ok = yield* recorder()
    // T fails before it reads anything, P and Q after the whole body
    const t = yield* recorder({ body: "ignore", fail: transient })
    const p = yield* recorder({ fail: permanent })
    const q = yield* recorder({ fail: otherPermanent })
    const { onRefused, refusals } = yield* collectRefusals
    // a route whose upstream is gone: accepted at RCPT, 451 4.4.1 at the end of DATA (as the
    // relay's spool mode answered before it was removed)
    const down = yield* recorder({
      fail: new SmtpError.Custom({ code: 451, enhanced: "4.4.1", text: "Upstream server unavailable, try again later" })
    })
    const server = yield* withHandler(
      Router.layer({
        routes: [
          Router.domain("ok.test", ok.layer),
          Router.domain("t.test", t.layer),
          Router.domain("p.test", p.layer),
          Router.domain("q.test", q.layer),
          Router.domain("down.test", down.layer)
        ],
        onRefused
      })
    )
    return { server, ok, refusals }
  })

  it.live("is 4xx when nothing was delivered and one route failed transiently", () =>
    Effect.gen(function* () {
      const { server, ok, refusals } = yield* setup
      const result = yield* sendOne(server, "a@example.org", ["p1@p.test", "t1@t.test", "q1@q.test"], plain)
      expect(result.data).toEqual([451, "4.3.0 Try again (T)"])
      const down = yield* sendOne(server, "a@example.org", ["p1@p.test", "d1@down.test"], plain)
      expect(down.data).toEqual([451, "4.4.1 Upstream server unavailable, try again later"])
      expect(yield* ok.deliveries).toEqual([])
      expect(yield* refusals).toEqual([])
    })
  )

  it.live("is a 5xx of a route when every route failed permanently", () =>
    Effect.gen(function* () {
      const { server, ok, refusals } = yield* setup
      const result = yield* sendOne(server, "a@example.org", ["p1@p.test", "q1@q.test"], plain)
      expect([
        [550, "5.1.1 Gone (P)"],
        [554, "5.6.0 Bad content (Q)"]
      ]).toContainEqual(result.data)
      expect(yield* ok.deliveries).toEqual([])
      expect(yield* refusals).toEqual([])
    })
  )

  it.live("is 250 when one route delivered, and the failed routes' recipients go to onRefused", () =>
    Effect.gen(function* () {
      const { server, ok, refusals } = yield* setup
      const result = yield* sendOne(
        server,
        "a@example.org",
        ["t1@t.test", "ok1@ok.test", "p1@p.test", "p2@p.test", "d1@down.test", "ok2@ok.test"],
        plain
      )
      expect(result.data).toEqual([250, "2.0.0 Ok: message accepted"])
      expect(yield* got(ok)).toEqual([
        { rcptTos: ["ok1@ok.test", "ok2@ok.test"], session: ["ok1@ok.test", "ok2@ok.test"] }
      ])
      const [refused] = (yield* refusals).map((refusal) => refusal.recipients)
      expect(refused).toHaveLength(4)
      expect(refused).toEqual(
        expect.arrayContaining([
          { address: "t1@t.test", reply: "451 4.3.0 Try again (T)" },
          { address: "p1@p.test", reply: "550 5.1.1 Gone (P)" },
          { address: "p2@p.test", reply: "550 5.1.1 Gone (P)" },
          { address: "d1@down.test", reply: "451 4.4.1 Upstream server unavailable, try again later" }
        ])
      )
      expect(yield* refusals).toHaveLength(1)
    })
  )
})

describe.skipIf(skipWithout("python3"))("Router reset", () => {
  it.live("calls the routes' reset on RSET and starts the next transaction clean", () =>
    Effect.gen(function* () {
      const route = yield* recorder()
      const other = yield* recorder()
      const server = yield* withHandler(
        Router.layer({ routes: [Router.domain("r.test", route.layer)], fallback: other.layer })
      )
      const result = yield* smtplib<[unknown, Transaction]>(
        server,
        `s = connect()
s.ehlo()
s.mail("a@example.org")
s.rcpt("r1@r.test")
rset = r(s.rset())
report([rset, transaction(s, "b@example.org", ["r2@r.test", "o@other.test"])])
s.quit()`,
        plain
      )
      expect(result[0]).toEqual([250, "2.0.0 Ok"])
      expect(result[1].data?.[0]).toBe(250)
      expect(yield* route.events).toEqual([
        "mail a@example.org",
        "rcpt r1@r.test",
        "reset",
        "mail b@example.org",
        "rcpt r2@r.test",
        "data",
        "reset"
      ])
      const [delivery] = yield* route.deliveries
      expect(delivery!.mailFrom).toBe("b@example.org")
      expect(delivery!.rcptTos).toEqual(["r2@r.test"])
      expect(yield* other.events).toEqual(["mail b@example.org", "rcpt o@other.test", "data", "reset"])
    })
  )
})
