/**
 * The message view's tools, each on demand: its links checked, its SpamAssassin score (when the
 * server has a spamd), and its release to other addresses (when the server has a release
 * server). Nothing is fetched, sent or scored until the reader asks.
 */
import { getJson, messagePath, request } from "./api.js"
import { byId, h } from "./dom.js"
import { state } from "./state.js"

interface WebUi {
  readonly MessageRelay: { readonly Enabled: boolean; readonly SMTPServer: string }
  readonly SpamAssassin: boolean
}

interface LinkReport {
  readonly Errors: number
  readonly Links: ReadonlyArray<{ readonly URL: string; readonly StatusCode: number; readonly Status: string }>
}

interface SpamReport {
  readonly Error: string
  readonly IsSpam: boolean
  readonly Score: number
  readonly Rules: ReadonlyArray<{ readonly Name: string; readonly Score: number; readonly Description: string }> | null
}

// ---------------------------------------------------------------------------------------------
// What the server offers

export const loadFeatures = async () => {
  const webui = await getJson<WebUi>("/api/v1/webui")
  const spam = byId<HTMLButtonElement>("tab-spam")
  spam.hidden = !webui.SpamAssassin
  spam.disabled = !webui.SpamAssassin
  byId("release-button").hidden = !webui.MessageRelay.Enabled
  byId("release-server").textContent = webui.MessageRelay.SMTPServer
}

/** A new message in the view: the last one's results go. */
export const clearChecks = () => {
  for (const id of ["links-body", "spam-body", "release-status"]) byId(id).replaceChildren()
  byId("release-form").hidden = true
}

const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Node | string>>) =>
  h("table", { className: "check-table" }, [
    h("thead", {}, [
      h(
        "tr",
        {},
        head.map((name) => h("th", { text: name, attrs: { scope: "col" } }))
      )
    ]),
    h(
      "tbody",
      {},
      rows.map((cells) =>
        h(
          "tr",
          {},
          cells.map((cell) => h("td", {}, [typeof cell === "string" ? document.createTextNode(cell) : cell]))
        )
      )
    )
  ])

// ---------------------------------------------------------------------------------------------
// Links

export const checkLinks = async () => {
  const id = state.openId
  if (id === "") return
  const body = byId("links-body")
  body.replaceChildren(h("p", { text: "Checking the links…" }))
  const follow = byId<HTMLInputElement>("follow-redirects").checked
  const report = await getJson<LinkReport>(`${messagePath(id)}/link-check?follow=${follow}`)
  if (state.openId !== id) return
  if (report.Links.length === 0) return body.replaceChildren(h("p", { text: "This message has no web links." }))
  const summary = report.Errors === 0 ? "Every link answered." : `${report.Errors} of ${report.Links.length} failed.`
  body.replaceChildren(
    h("p", { text: summary, attrs: { "data-testid": "links-summary" } }),
    table(
      ["Status", "Link"],
      report.Links.map((link) => {
        const failed = link.StatusCode === 0 || link.StatusCode >= 400
        const status = h("span", {
          className: failed ? "status bad" : "status good",
          text: link.StatusCode === 0 ? link.Status : `${link.StatusCode} ${link.Status}`
        })
        return [status, link.URL]
      })
    )
  )
}

// ---------------------------------------------------------------------------------------------
// SpamAssassin

export const checkSpam = async () => {
  const id = state.openId
  if (id === "") return
  const body = byId("spam-body")
  body.replaceChildren(h("p", { text: "Asking SpamAssassin…" }))
  const report = await getJson<SpamReport>(`${messagePath(id)}/sa-check`)
  if (state.openId !== id) return
  if (report.Error !== "") return body.replaceChildren(h("p", { className: "status bad", text: report.Error }))
  const verdict = `${report.IsSpam ? "Spam" : "Not spam"}: a score of ${report.Score}`
  body.replaceChildren(
    h("p", {
      className: report.IsSpam ? "status bad" : "status good",
      text: verdict,
      attrs: { "data-testid": "spam-verdict" }
    }),
    table(
      ["Score", "Rule", "Description"],
      (report.Rules ?? []).map((rule) => [String(rule.Score), rule.Name, rule.Description])
    )
  )
}

// ---------------------------------------------------------------------------------------------
// Release

export const toggleReleaseForm = () => {
  const form = byId("release-form")
  form.hidden = !form.hidden
  if (!form.hidden) byId("release-to").focus()
}

export const release = async (event: SubmitEvent) => {
  event.preventDefault()
  const id = state.openId
  const to = byId<HTMLInputElement>("release-to")
    .value.split(/[\s,;]+/)
    .filter((address) => address !== "")
  if (id === "" || to.length === 0) return
  const status = byId("release-status")
  status.textContent = "Releasing…"
  try {
    await request("POST", `${messagePath(id)}/release`, { To: to })
    status.textContent = `Released to ${to.join(", ")}.`
  } catch (error) {
    status.textContent = ""
    throw error
  }
}
