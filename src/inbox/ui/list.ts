/** The message list: loading it page by page, its rows, the focus and the selection. */
import { fetchPage, type Summary } from "./api.js"
import { byId, h, isVisible, paperclip } from "./dom.js"
import { formatSize, longDate, senderOf, shortDate, subjectOf, validDate } from "./format.js"
import { replaceFrame } from "./preview.js"
import { urlOf } from "./route.js"
import { state } from "./state.js"
import { renderUnread, run, setUnread } from "./status.js"

// ---------------------------------------------------------------------------------------------
// The list

const PAGE_SIZE = 50

export const showList = (query: string) => {
  state.focusOnReturn = isVisible("message-view") ? state.openId : ""
  state.openId = ""
  state.open = undefined
  byId("message-view").hidden = true
  byId("list-view").hidden = false
  replaceFrame(undefined)
  byId<HTMLInputElement>("search-input").value = query
  if (state.loaded && state.query === query) renderList()
  else run(() => loadList(query))
}

// the first page, or as many rows as are shown now (after a prune or a reconnection)
export const loadList = async (query: string, count = PAGE_SIZE) => {
  const requestNumber = ++state.listRequest
  byId("message-list").setAttribute("aria-busy", "true")
  try {
    const page = await fetchPage(query, 0, Math.max(PAGE_SIZE, count))
    if (requestNumber !== state.listRequest) return
    state.query = query
    state.messages = [...page.messages]
    state.matching = page.messages_count
    state.loaded = true
    const shown = new Set(state.messages.map((message) => message.ID))
    for (const id of state.selected) if (!shown.has(id)) state.selected.delete(id)
    byId("new-mail-notice").hidden = true
    setUnread(page.unread)
    renderList()
  } finally {
    if (requestNumber === state.listRequest) byId("message-list").removeAttribute("aria-busy")
  }
}

export const reloadList = () => run(() => loadList(state.query, state.messages.length))

export const loadMore = async () => {
  const page = await fetchPage(state.query, state.messages.length, PAGE_SIZE)
  // mail that arrived meanwhile shifts the pages: skip rows already shown
  const shown = new Set(state.messages.map((message) => message.ID))
  state.messages.push(...page.messages.filter((message) => !shown.has(message.ID)))
  state.matching = page.messages_count
  renderList()
}

const messageRow = (message: Summary): HTMLLIElement => {
  const subject = subjectOf(message.Subject)
  const checkbox = h("input", { className: "select", attrs: { type: "checkbox", "aria-label": `Select: ${subject}` } })
  checkbox.checked = state.selected.has(message.ID)
  const created = validDate(message.Created)
  const link = h("a", { className: "open", attrs: { href: urlOf({ kind: "view", id: message.ID }) } }, [
    h("span", { className: "from" }, [
      h("span", { className: "dot", attrs: { "aria-hidden": "true" } }),
      ...(message.Read ? [] : [h("span", { className: "visually-hidden", text: "Unread: " })]),
      h("span", { className: "from-text", text: senderOf(message.From) })
    ]),
    h("span", { className: "subject" }, [
      h("span", { className: "subject-text", text: subject }),
      h("span", { className: "snippet", text: message.Snippet ?? "" })
    ]),
    h(
      "span",
      { className: "attach" },
      message.Attachments > 0 ? [paperclip(), h("span", { className: "visually-hidden", text: "Has attachments" })] : []
    ),
    h("span", { className: "size", text: formatSize(message.Size) }),
    h("time", {
      className: "date",
      text: created === undefined ? "" : shortDate(created),
      attrs: created === undefined ? {} : { datetime: created.toISOString(), title: longDate(created) }
    })
  ])
  const classes = ["message-row", message.Read ? "" : "unread", state.arrived.has(message.ID) ? "arrived" : ""]
  return h(
    "li",
    {
      className: classes.filter((name) => name !== "").join(" "),
      attrs: { "data-testid": "message-row", "data-id": message.ID, "data-unread": String(!message.Read) }
    },
    [checkbox, link]
  )
}

export const rowOf = (node: EventTarget | null): HTMLElement | null =>
  node instanceof Element ? node.closest<HTMLElement>('[data-testid="message-row"]') : null

export const renderList = () => {
  const list = byId("message-list")
  // re-rendering replaces the rows: keep the keyboard focus on the same one
  const focused = rowOf(document.activeElement)
  const focusId = focused?.dataset["id"] ?? state.focusOnReturn
  const focusCheckbox = document.activeElement instanceof HTMLInputElement && focused !== null
  list.replaceChildren(...state.messages.map(messageRow))
  state.arrived.clear()
  byId("empty").textContent = state.query === "" ? "No messages" : "No messages match this search"
  byId("empty").hidden = state.messages.length > 0
  const more = byId<HTMLButtonElement>("load-more")
  more.hidden = state.messages.length >= state.matching
  more.textContent = `Load more (${state.messages.length} of ${state.matching})`
  renderSelection()
  renderUnread()
  if (focusId !== "") focusRow(focusId, focusCheckbox)
  state.focusOnReturn = ""
}

const focusRow = (id: string, checkbox = false) => {
  const row = [...byId("message-list").children].find(
    (node) => node instanceof HTMLElement && node.dataset["id"] === id
  )
  const target = row?.querySelector<HTMLElement>(checkbox ? "input.select" : "a.open")
  target?.focus()
}

export const renderSelection = () => {
  const count = state.selected.size
  for (const id of ["mark-read-button", "mark-unread-button", "delete-selected-button"]) {
    byId<HTMLButtonElement>(id).disabled = count === 0
  }
  const all = byId<HTMLInputElement>("select-all")
  all.checked = count > 0 && count === state.messages.length
  all.indeterminate = count > 0 && count < state.messages.length
  all.disabled = state.messages.length === 0
  const total = state.query === "" ? `${state.matching} messages` : `${state.matching} found`
  byId("list-summary").textContent = count > 0 ? `${count} selected of ${total}` : total
}

// j / k: the next / previous row, as in Mailpit and mail clients
export const moveInList = (step: number) => {
  const links = [...byId("message-list").querySelectorAll<HTMLElement>("a.open")]
  if (links.length === 0) return
  const current = links.findIndex((link) => rowOf(link) === rowOf(document.activeElement))
  const next =
    current === -1 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, current + step))
  links[next]?.focus()
  links[next]?.scrollIntoView({ block: "nearest" })
}
