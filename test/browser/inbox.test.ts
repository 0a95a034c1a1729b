// The web inbox in a real browser (issue 16): Debian's chromium driven by playwright-core, against
// the built command (`-c Inbox`) with mail sent by python's smtplib. A message arrives in the open
// page without a reload, opens at its own address, its tabs switch, its attachment downloads,
// search and delete work, a message whose HTML carries script changes nothing in the page, and
// malformed mail, 1,000 parts and an unknown charset still show (never a blank page).
// Screenshots at desktop and phone widths go to $INBOX_SCREENSHOTS (docs/images for the README)
// or a temporary directory.
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { builtCommand } from "../utils/command.js"
import { send } from "../utils/browserMail.js"
import { type InboxProcess, inboxProcess } from "../utils/inboxProcess.js"
import { python3, skipWithout, which } from "../utils/tools.js"

const main = builtCommand()
const shots = process.env["INBOX_SCREENSHOTS"] ?? Fs.mkdtempSync(Path.join(Os.tmpdir(), "inbox-shots-"))

// script in a message's HTML: in the page it would set the title, a global, and empty the list
const hostile = [
  "<p>Hello</p>",
  "<script>parent.document.title='pwned'; top.window.pwned = 1; top.document.body.textContent = ''</script>",
  `<img src="x" onerror="top.window.pwned = 2; parent.document.title = 'pwned'">`,
  `<a href="javascript:top.window.pwned=3">click</a>`,
  `<img src="http://198.51.100.7/track.png">`
].join("\n")

const rows = (page: Page) => page.locator('[data-testid="message-row"]')

// a message as it is, over a raw SMTP conversation by python's smtplib
const sendRaw = (smtp: number, message: string) => {
  const script = `
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1])); s.sendmail("a@example.com", ["dev@example.com"], sys.argv[2].encode("utf-8")); s.quit()
`
  const result = spawnSync(python3, ["-c", script, String(smtp), message], { encoding: "utf8" })
  if (result.status !== 0) throw new Error(`smtplib: ${result.stderr}`)
}

describe.skipIf(skipWithout("chromium", "python3"))("the web inbox in Chromium", () => {
  const scope = Scope.makeUnsafe()
  let inbox: InboxProcess
  let browser: Browser

  beforeAll(async () => {
    inbox = await Effect.runPromise(Scope.provide(inboxProcess(main), scope))
    browser = await chromium.launch({ executablePath: which("chromium")!, args: ["--no-sandbox"] })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })

  it("shows mail as it arrives, opens it at /view/ID, switches tabs, downloads, searches and deletes", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    const errors: Array<string> = []
    page.on("pageerror", (e) => errors.push(e.message))
    await page.goto(inbox.web)
    await page.getByTestId("empty").waitFor()
    // arrives without a reload
    send(inbox.port, {
      subject: "Quarterly report",
      from: "Reports <reports@example.com>",
      html: "<h1>Q3</h1><p>Numbers attached.</p>",
      attachment: "month,total\nJuly,42\n"
    })
    send(inbox.port, { subject: "Welcome aboard", from: "Acme <hello@acme.test>", html: "<p>Welcome!</p>" })
    await expect.poll(() => rows(page).count(), { timeout: 10_000 }).toBe(2)
    expect(await rows(page).first().getAttribute("data-unread")).toBe("true")
    await page.screenshot({ path: Path.join(shots, "inbox-desktop.png") })

    // opens at its own address; the tabs
    await rows(page).filter({ hasText: "Quarterly report" }).click()
    await page.getByTestId("view-subject").filter({ hasText: "Quarterly report" }).waitFor()
    expect(page.url()).toMatch(/\/view\/[A-Za-z0-9]{22}$/)
    const frame = page.frameLocator('[data-testid="html-frame"]')
    await expect.poll(() => frame.locator("h1").textContent()).toBe("Q3")
    await page.screenshot({ path: Path.join(shots, "inbox-view-desktop.png") })
    await page.getByTestId("tab-text").click()
    await expect.poll(() => page.getByTestId("text-body").textContent()).toContain("The text part of Quarterly report")
    await page.getByTestId("tab-source").click()
    await expect.poll(() => page.getByTestId("source-body").textContent()).toContain("Subject: Quarterly report")
    await page.getByTestId("tab-headers").click()
    await expect.poll(() => page.getByTestId("headers-body").textContent()).toContain("Mime-Version")

    // the attachment downloads with its bytes
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("attachment").first().click()
    ])
    expect(download.suggestedFilename()).toBe("report.csv")
    expect(Fs.readFileSync((await download.path())!, "utf8")).toBe("month,total\nJuly,42\n")

    // a shared link opens the same message
    const shared = page.url()
    const second = await browser.newPage()
    await second.goto(shared)
    await second.getByTestId("view-subject").filter({ hasText: "Quarterly report" }).waitFor()
    await second.close()

    // search, then delete what it found
    await page.goBack()
    await page.getByTestId("search-input").fill("subject:welcome")
    await page.getByTestId("search-input").press("Enter")
    await expect.poll(() => rows(page).count()).toBe(1)
    expect(page.url()).toContain("/search?q=")
    await rows(page).first().click()
    await page.getByTestId("view-subject").filter({ hasText: "Welcome aboard" }).waitFor()
    page.once("dialog", (dialog) => void dialog.accept())
    await page.getByTestId("delete-button").click()
    // back in the search's list (history.back, then its reload), empty now, before the next
    // search: one sent while the delete is on its way is overtaken by the return to this list
    await page.waitForURL(/\/search\?q=/)
    await page.waitForLoadState("networkidle")
    await expect.poll(() => rows(page).count()).toBe(0)
    await page.getByTestId("search-input").fill("")
    await page.getByTestId("search-input").press("Enter")
    await expect.poll(() => rows(page).count()).toBe(1)
    expect(await rows(page).first().textContent()).toContain("Quarterly report")
    expect(errors).toEqual([])
  }, 60_000)

  it("a message's script and onerror payloads change nothing in the inbox page", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    await page.goto(inbox.web)
    send(inbox.port, { subject: "Hostile", from: "Mallory <mallory@example.net>", html: hostile })
    await rows(page).filter({ hasText: "Hostile" }).click()
    const frame = page.frameLocator('[data-testid="html-frame"]')
    await expect.poll(() => frame.locator("p").first().textContent()).toBe("Hello")
    await page.waitForTimeout(500)
    // the page is as it was: its title, no global set, its list and view still there
    expect(await page.title()).not.toContain("pwned")
    expect(await page.evaluate("typeof window.pwned")).toBe("undefined")
    await page.getByTestId("view-subject").filter({ hasText: "Hostile" }).waitFor()
    // the frame runs no script and shares nothing with the page
    const sandbox = await page.getByTestId("html-frame").getAttribute("sandbox")
    expect(sandbox).not.toContain("allow-scripts")
    expect(sandbox).not.toContain("allow-same-origin")
    // a remote image waits for the user
    await page.getByTestId("remote-images-button").waitFor()
    await page.goBack()
    await expect.poll(() => rows(page).count()).toBeGreaterThan(0)
    expect(await page.title()).not.toContain("pwned")
  }, 60_000)

  it("shows malformed mail, 1,000 parts and an unknown charset as well as it can: never a blank page", async () => {
    const raw = (lines: ReadonlyArray<string>) => lines.join("\r\n")
    const parts = Array.from({ length: 1000 }, (_, i) =>
      raw([
        `--b`,
        `Content-Type: text/plain; name="part${i}.txt"`,
        `Content-Disposition: attachment; filename="part${i}.txt"`,
        "",
        `part ${i}`
      ])
    )
    const broken = [
      raw([
        "Subject: Broken MIME",
        "Content-Type: multipart/mixed; boundary=zz",
        "",
        "--zz",
        "Content-Type: text/html",
        "",
        "<p>unclosed"
      ]),
      raw(["Subject: A thousand parts", "Content-Type: multipart/mixed; boundary=b", "", ...parts, "--b--"]),
      raw(["Subject: =?x-unknown?Q?Odd_charset?=", "Content-Type: text/plain; charset=x-foo", "", "caf\u00e9"])
    ]
    for (const message of broken) sendRaw(inbox.port, message)
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    const errors: Array<string> = []
    page.on("pageerror", (e) => errors.push(e.message))
    await page.goto(inbox.web)
    for (const subject of ["Broken MIME", "A thousand parts"]) {
      await rows(page).filter({ hasText: subject }).click()
      await page.getByTestId("view-subject").filter({ hasText: subject }).waitFor()
      await page.getByTestId("tab-source").click()
      await expect.poll(() => page.getByTestId("source-body").textContent()).toContain(`Subject: ${subject}`)
      await page.goBack()
    }
    await rows(page).filter({ hasText: "A thousand parts" }).click()
    await expect.poll(() => page.getByTestId("attachment").count()).toBe(1000)
    await page.goBack()
    // the third: listed, its subject shown as the parser could decode it
    await expect.poll(() => rows(page).count()).toBeGreaterThanOrEqual(3)
    expect(errors).toEqual([])
  }, 60_000)

  it("is readable on a phone-sized window: one column, nothing wider than the screen", async () => {
    const page = await browser.newPage({ viewport: { width: 375, height: 740 } })
    await page.goto(inbox.web)
    await expect.poll(() => rows(page).count()).toBeGreaterThan(0)
    const overflow = () => page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth")
    expect(await overflow()).toBeLessThanOrEqual(0)
    await page.screenshot({ path: Path.join(shots, "inbox-phone.png") })
    await rows(page).first().click()
    await page.getByTestId("view").waitFor()
    await page.waitForTimeout(300)
    expect(await overflow()).toBeLessThanOrEqual(0)
    await page.screenshot({ path: Path.join(shots, "inbox-view-phone.png") })
  }, 60_000)
})
