/**
 * The web inbox of `effect-smtpd -c Inbox`: the stored messages, live as mail arrives, a search
 * box and one message at its own address (/view/{ID}), all over Mailpit's API v1 on the same
 * origin. Plain DOM code, no framework, no dependencies.
 *
 * Message data reaches the page only as text (textContent, attribute values), never as markup.
 * The message's own HTML is shown in a sandboxed iframe (no scripts, an opaque origin) whose
 * content security policy blocks remote images until the reader asks for them.
 */
import { setRead } from "./changes.js"
import { checkLinks, checkSpam, loadFeatures, release, toggleReleaseForm } from "./checks.js"
import { deleteAll, deleteMessages, deleteOpen } from "./delete.js"
import { byId, isVisible } from "./dom.js"
import { connect } from "./events.js"
import { onKey, onSearchKey } from "./keys.js"
import { loadList, loadMore, renderList, renderSelection, rowOf } from "./list.js"
import { backToList, navigate, show } from "./navigation.js"
import { renderHtml } from "./preview.js"
import { routeOf } from "./route.js"
import { state } from "./state.js"
import { clearError, renderUnread, run } from "./status.js"
import { onTabKey, selectTab, TABS } from "./tabs.js"
import { toggleRead } from "./view.js"

// ---------------------------------------------------------------------------------------------
// Wiring

const selectedIds = () => [...state.selected]

const onListClick = (event: MouseEvent) => {
  const target = event.target instanceof Element ? event.target : null
  const link = target?.closest<HTMLAnchorElement>("a.open")
  // a plain click opens here; with a modifier the browser opens a tab or window
  if (link == null || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return
  const id = rowOf(link)?.dataset["id"]
  if (id === undefined) return
  event.preventDefault()
  navigate({ kind: "view", id })
}

const onListChange = (event: Event) => {
  const box = event.target
  const id = rowOf(box)?.dataset["id"]
  if (!(box instanceof HTMLInputElement) || id === undefined) return
  if (box.checked) state.selected.add(id)
  else state.selected.delete(id)
  renderSelection()
}

const onSelectAll = () => {
  const all = byId<HTMLInputElement>("select-all")
  state.selected = new Set(all.checked ? state.messages.map((message) => message.ID) : [])
  renderList()
}

const onSearch = (event: SubmitEvent) => {
  event.preventDefault()
  const query = byId<HTMLInputElement>("search-input").value.trim()
  // the same search again: ask the server again
  if (query === state.query && isVisible("list-view")) run(() => loadList(query))
  else navigate({ kind: "list", query })
}

const on = <K extends keyof HTMLElementEventMap>(
  id: string,
  type: K,
  listener: (event: HTMLElementEventMap[K]) => void
) => byId(id).addEventListener(type, listener)

const start = () => {
  on("search-form", "submit", onSearch)
  on("search-input", "keydown", onSearchKey)
  on("home", "click", (event) => {
    event.preventDefault()
    navigate({ kind: "list", query: "" })
  })
  on("alert-close", "click", clearError)
  on("message-list", "click", onListClick)
  on("message-list", "change", onListChange)
  on("select-all", "change", onSelectAll)
  on("mark-read-button", "click", () => run(() => setRead(selectedIds(), true)))
  on("mark-unread-button", "click", () => run(() => setRead(selectedIds(), false)))
  on("delete-selected-button", "click", () => run(() => deleteMessages(selectedIds())))
  on("delete-all-button", "click", () => run(deleteAll))
  on("new-mail-notice", "click", () => run(() => loadList(state.query)))
  on("load-more", "click", () => run(loadMore))
  on("back-button", "click", backToList)
  on("unread-button", "click", () => run(toggleRead))
  on("delete-button", "click", () => run(deleteOpen))
  on("remote-images-button", "click", () => {
    state.remoteImages = !state.remoteImages
    renderHtml()
  })
  on("check-links-button", "click", () => run(checkLinks))
  on("check-spam-button", "click", () => run(checkSpam))
  on("release-button", "click", toggleReleaseForm)
  on("release-form", "submit", (event) => run(() => release(event)))
  on("tabs", "keydown", onTabKey)
  for (const tab of TABS) on(`tab-${tab}`, "click", () => selectTab(tab, false))
  document.addEventListener("keydown", onKey)
  window.addEventListener("popstate", () => show(routeOf(location)))
  renderUnread()
  run(loadFeatures)
  show(routeOf(location))
  connect()
}

start()
