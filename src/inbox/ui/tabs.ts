/**
 * The message view's tabs: HTML, text, source and headers (the last two loaded on first use),
 * and the links and spam checks (run when asked, `checks.ts`).
 */
import { getJson, messagePath, request } from "./api.js"
import { byId, h } from "./dom.js"
import { state } from "./state.js"
import { run } from "./status.js"

// ---------------------------------------------------------------------------------------------
// Tabs (WAI-ARIA tabs: arrows move between them, the selected one is in the tab order)

type Tab = "html" | "text" | "source" | "headers" | "links" | "spam"
export const TABS: ReadonlyArray<Tab> = ["html", "text", "source", "headers", "links", "spam"]

export const selectTab = (tab: Tab, focus: boolean) => {
  for (const name of TABS) {
    const button = byId<HTMLButtonElement>(`tab-${name}`)
    button.setAttribute("aria-selected", String(name === tab))
    button.tabIndex = name === tab ? 0 : -1
    byId(`panel-${name}`).hidden = name !== tab
  }
  if (focus) byId(`tab-${tab}`).focus()
  if (tab === "source") run(loadSource)
  if (tab === "headers") run(loadHeaders)
}

export const onTabKey = (event: KeyboardEvent) => {
  const enabled = TABS.filter((name) => !byId<HTMLButtonElement>(`tab-${name}`).disabled)
  const current = enabled.findIndex((name) => byId(`tab-${name}`) === document.activeElement)
  const moves: Record<string, number | undefined> = {
    ArrowRight: current + 1,
    ArrowLeft: current - 1 + enabled.length,
    Home: 0,
    End: enabled.length - 1
  }
  const target = moves[event.key]
  if (target === undefined || current === -1) return
  event.preventDefault()
  const next = enabled[target % enabled.length]
  if (next !== undefined) selectTab(next, true)
}

const loadSource = async () => {
  const id = state.openId
  if (id === "" || state.sourceOf === id) return
  state.sourceOf = id
  const body = byId("source-body")
  body.textContent = "Loading…"
  try {
    const text = await (await request("GET", `${messagePath(id)}/raw`)).text()
    if (state.openId === id) body.textContent = text
  } catch (error) {
    state.sourceOf = ""
    body.textContent = ""
    throw error
  }
}

const loadHeaders = async () => {
  const id = state.openId
  if (id === "" || state.headersOf === id) return
  state.headersOf = id
  const body = byId("headers-body")
  body.textContent = "Loading…"
  try {
    const headers = await getJson<Record<string, ReadonlyArray<string>>>(`${messagePath(id)}/headers`)
    if (state.openId !== id) return
    const rows = Object.entries(headers).flatMap(([name, values]) =>
      values.map((value) => h("tr", {}, [h("th", { text: name, attrs: { scope: "row" } }), h("td", { text: value })]))
    )
    body.replaceChildren(h("table", { className: "headers-table" }, [h("tbody", {}, rows)]))
  } catch (error) {
    state.headersOf = ""
    body.textContent = ""
    throw error
  }
}
