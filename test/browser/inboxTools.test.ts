// The message view's tools in Chromium: the links checked when the reader asks (a web server of
// the test's own on loopback answers), a release to another address through --release-to (our
// debugging server prints what it gets), and the Spam tab, shown only when the server has a
// spamd, scoring GTUBE's test message as spam. Screenshots go where inbox.test.ts puts its own.
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { type Browser, chromium } from "playwright-core"
import { send } from "../utils/browserMail.js"
import * as CliProcess from "../utils/cliProcess.js"
import { builtCommand } from "../utils/command.js"
import { type InboxProcess, inboxProcess } from "../utils/inboxProcess.js"
import { webServer } from "../utils/linkServer.js"
import { spamd } from "../utils/spamd.js"
import { skipWithout, which } from "../utils/tools.js"

const main = builtCommand()
const shots = process.env["INBOX_SCREENSHOTS"] ?? Fs.mkdtempSync(Path.join(Os.tmpdir(), "inbox-shots-"))
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

describe.skipIf(skipWithout("chromium", "python3", "spamd"))("the message view's tools in Chromium", () => {
  const scope = Scope.makeUnsafe()
  let inbox: InboxProcess
  let browser: Browser
  let upstream: CliProcess.Running
  let web: string

  beforeAll(async () => {
    upstream = await CliProcess.runner(main).start(["--format", "json", "127.0.0.1:0"])
    web = await Effect.runPromise(Scope.provide(webServer, scope))
    const daemon = await Effect.runPromise(Scope.provide(spamd, scope))
    inbox = await Effect.runPromise(
      Scope.provide(
        inboxProcess(main, [
          "--release-to",
          `127.0.0.1:${upstream.port}`,
          "--enable-spamassassin",
          `127.0.0.1:${daemon.port}`
        ]),
        scope
      )
    )
    browser = await chromium.launch({ executablePath: which("chromium")!, args: ["--no-sandbox"] })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await upstream?.stop("SIGTERM")
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })

  it("checks the links when asked, releases the message, scores it with SpamAssassin", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    const errors: Array<string> = []
    page.on("pageerror", (e) => errors.push(e.message))
    send(inbox.port, {
      subject: "Links and spam",
      from: "App <app@example.com>",
      html: `<p><a href="${web}/ok">fine</a> <a href="${web}/moved">moved</a> <img src="${web}/missing.png"> ${gtube}</p>`
    })
    await page.goto(inbox.web)
    await page.locator('[data-testid="message-row"]').first().click()
    await page.getByTestId("view-subject").filter({ hasText: "Links and spam" }).waitFor()

    // nothing is fetched until the reader asks
    await page.getByTestId("tab-links").click()
    expect(await page.getByTestId("links-body").textContent()).toBe("")
    await page.getByTestId("check-links-button").click()
    await expect.poll(() => page.getByTestId("links-summary").textContent()).toBe("1 of 3 failed.")
    const links = await page.locator("#links-body tbody tr").allTextContents()
    expect(links).toEqual([`200 OK${web}/ok`, `301 Moved Permanently${web}/moved`, `404 Not Found${web}/missing.png`])
    await page.screenshot({ path: Path.join(shots, "inbox-links-desktop.png") })
    await page.locator("#follow-redirects").check()
    await page.getByTestId("check-links-button").click()
    await expect.poll(() => page.locator("#links-body tbody tr").nth(1).textContent()).toBe(`200 OK${web}/moved`)

    // spamd's verdict
    await page.getByTestId("tab-spam").click()
    await page.getByTestId("check-spam-button").click()
    await expect
      .poll(() => page.getByTestId("spam-verdict").textContent(), { timeout: 20_000 })
      .toMatch(/^Spam: a score of \d+/)
    expect(await page.locator("#spam-body tbody").textContent()).toContain("GTUBE")

    // released through the debugging server, to the address typed
    await page.getByTestId("release-button").click()
    await page.getByTestId("release-to").fill("ann@example.net")
    await page.getByTestId("release-submit").click()
    await expect.poll(() => page.getByTestId("release-status").textContent()).toBe("Released to ann@example.net.")
    await expect.poll(() => upstream.stdout()).toContain('"rcpt_to":["ann@example.net"]')
    expect(errors).toEqual([])
    await page.close()
  })

  it("hides what the server does not offer: no Release, no Spam tab", async () => {
    const plain = await Effect.runPromise(Scope.provide(inboxProcess(main), scope))
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    send(plain.port, { subject: "Plain", from: "a@example.com", html: "<p>hi</p>" })
    await page.goto(plain.web)
    await page.locator('[data-testid="message-row"]').first().click()
    await page.getByTestId("view-subject").filter({ hasText: "Plain" }).waitFor()
    expect(await page.getByTestId("release-button").isHidden()).toBe(true)
    expect(await page.getByTestId("tab-spam").isHidden()).toBe(true)
    expect(await page.getByTestId("tab-links").isVisible()).toBe(true)
    await page.close()
  })
})
