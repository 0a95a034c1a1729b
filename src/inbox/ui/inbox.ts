/**
 * The web inbox of `effect-smtpd -c Inbox`: the stored messages, live as mail arrives, a search
 * box and one message at its own address (/view/{ID}), all over Mailpit's API v1 on the same
 * origin. Plain DOM code, no framework, no dependencies.
 *
 * Message data reaches the page only as text (textContent, attribute values), never as markup.
 * The message's own HTML is shown in a sandboxed iframe (no scripts, an opaque origin) whose
 * content security policy blocks remote images until the reader asks for them.
 */
export {}

// ---------------------------------------------------------------------------------------------
// The API's shapes (Mailpit v1; only the fields the page reads)

interface Address {
  readonly Name: string
  readonly Address: string
}

interface Summary {
  readonly ID: string
  readonly Read: boolean
  readonly From: Address | null
  readonly Subject: string
  readonly Created: string
  readonly Size: number
  /** A count, not a list. */
  readonly Attachments: number
  readonly Snippet: string
}

interface Page {
  readonly unread: number
  readonly messages_count: number
  readonly messages: ReadonlyArray<Summary>
}

interface Part {
  readonly PartID: string
  readonly FileName: string
  readonly ContentType: string
  readonly ContentID: string
  readonly Size: number
}

type Addresses = ReadonlyArray<Address> | null

interface Message {
  readonly ID: string
  readonly From: Address | null
  readonly To: Addresses
  readonly Cc: Addresses
  readonly Bcc: Addresses
  readonly ReplyTo: Addresses
  readonly Subject: string
  readonly Date: string
  readonly Text: string
  readonly HTML: string
  readonly Inline: ReadonlyArray<Part> | null
  readonly Attachments: ReadonlyArray<Part> | null
}

/** A frame of /api/events. */
type ServerEvent =
  | { readonly Type: "new"; readonly Data: Summary }
  | { readonly Type: "update"; readonly Data: { readonly ID: string; readonly Read?: boolean } }
  | { readonly Type: "delete"; readonly Data: { readonly ID: string } }
  | { readonly Type: "truncate" | "prune"; readonly Data: null }
  | { readonly Type: "stats"; readonly Data: { readonly Total: number; readonly Unread: number } }

const PAGE_SIZE = 50

// ---------------------------------------------------------------------------------------------
// State

type Route = { readonly kind: "list"; readonly query: string } | { readonly kind: "view"; readonly id: string }

type Tab = "html" | "text" | "source" | "headers"
const TABS: ReadonlyArray<Tab> = ["html", "text", "source", "headers"]

const state = {
  /** The list as loaded: the newest messages matching `query` ("" = all). */
  query: "",
  messages: [] as Array<Summary>,
  /** How many messages match `query` on the server (more than `messages` when paged). */
  matching: 0,
  loaded: false,
  /** Drops list answers that a newer request has overtaken. */
  listRequest: 0,
  unread: 0,
  selected: new Set<string>(),
  /** Rows that arrived live, highlighted once. */
  arrived: new Set<string>(),
  /** The message in the view ("" when none or while it is being deleted from here). */
  openId: "",
  open: undefined as Message | undefined,
  openRead: true,
  viewRequest: 0,
  remoteImages: false,
  /** The message whose source / headers the tabs hold, loaded on first use. */
  sourceOf: "",
  headersOf: "",
  /** The row to focus when the list shows again (the message just viewed). */
  focusOnReturn: ""
}

// ---------------------------------------------------------------------------------------------
// DOM helpers

// an element of index.html: missing means the page and the script disagree
const byId = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const found = document.getElementById(id)
  if (found === null) throw new Error(`inbox: #${id} is missing from index.html`)
  return found as T
}

interface Props {
  readonly className?: string
  readonly text?: string
  readonly attrs?: Readonly<Record<string, string>>
}

// an element with text and attributes set as values: never parsed as markup
const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  children: ReadonlyArray<Node> = []
): HTMLElementTagNameMap[K] => {
  const node = document.createElement(tag)
  if (props.className !== undefined) node.className = props.className
  if (props.text !== undefined) node.textContent = props.text
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, value)
  node.append(...children)
  return node
}

// a paperclip, drawn (no icon font, no emoji: both may be missing offline)
const paperclip = (): SVGSVGElement => {
  const ns = "http://www.w3.org/2000/svg"
  const svg = document.createElementNS(ns, "svg")
  const path = document.createElementNS(ns, "path")
  const attributes: ReadonlyArray<readonly [string, string]> = [
    ["viewBox", "0 0 24 24"],
    ["width", "16"],
    ["height", "16"],
    ["aria-hidden", "true"],
    ["focusable", "false"]
  ]
  for (const [name, value] of attributes) svg.setAttribute(name, value)
  path.setAttribute(
    "d",
    "M21 11.5l-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l7.9-7.9"
  )
  path.setAttribute("fill", "none")
  path.setAttribute("stroke", "currentColor")
  path.setAttribute("stroke-width", "2")
  path.setAttribute("stroke-linecap", "round")
  path.setAttribute("stroke-linejoin", "round")
  svg.append(path)
  return svg
}

const isVisible = (id: string) => !byId(id).hidden

// ---------------------------------------------------------------------------------------------
// Formatting

const subjectOf = (subject: string | undefined) =>
  subject === undefined || subject.trim() === "" ? "(no subject)" : subject

const senderOf = (from: Address | null) => {
  const name = from?.Name.trim() ?? ""
  return name !== "" ? name : from?.Address || "(unknown sender)"
}

const addressText = (address: Address) =>
  address.Name.trim() === ""
    ? address.Address
    : address.Address === ""
      ? address.Name
      : `${address.Name} <${address.Address}>`

const addressList = (addresses: Addresses) => (addresses ?? []).map(addressText).join(", ")

const formatSize = (bytes: number): string => {
  if (bytes < 1024) return `${bytes} B`
  const units = ["kB", "MB", "GB"]
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`
}

const validDate = (iso: string): Date | undefined => {
  const date = new Date(iso)
  // Go's zero time ("0001-01-01…") is how a message without a Date: header may come
  return Number.isNaN(date.getTime()) || date.getFullYear() < 1970 ? undefined : date
}

// today: the time; this year: day and month; before: the full date
const shortDate = (date: Date): string => {
  const now = new Date()
  if (date.toDateString() === now.toDateString())
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
  if (date.getFullYear() === now.getFullYear()) return date.toLocaleDateString([], { month: "short", day: "numeric" })
  return date.toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" })
}

const longDate = (date: Date) => date.toLocaleString([], { dateStyle: "full", timeStyle: "medium" })

// ---------------------------------------------------------------------------------------------
// The API

const messagePath = (id: string) => `/api/v1/message/${encodeURIComponent(id)}`
const partUrl = (id: string, part: Part) => `${messagePath(id)}/part/${encodeURIComponent(part.PartID)}`

// the error a failed request carries: Mailpit-style {"Error": "..."} or plain text
const errorOf = async (response: Response): Promise<string> => {
  const text = await response.text().catch(() => "")
  try {
    const body: unknown = JSON.parse(text)
    if (typeof body === "object" && body !== null && "Error" in body && typeof body.Error === "string")
      return body.Error
  } catch {
    // not JSON: the text itself
  }
  return text.trim() !== "" ? text.trim() : `${response.status} ${response.statusText}`
}

const request = async (method: string, path: string, body?: unknown): Promise<Response> => {
  const init: RequestInit = { method, headers: { accept: "application/json" } }
  if (body !== undefined) {
    init.body = JSON.stringify(body)
    init.headers = { accept: "application/json", "content-type": "application/json" }
  }
  const response = await fetch(path, init)
  if (!response.ok) throw new Error(await errorOf(response))
  return response
}

const getJson = async <T>(path: string): Promise<T> => (await (await request("GET", path)).json()) as T

const fetchPage = (query: string, start: number, limit: number): Promise<Page> => {
  const paging = `start=${start}&limit=${limit}`
  return getJson<Page>(
    query === "" ? `/api/v1/messages?${paging}` : `/api/v1/search?query=${encodeURIComponent(query)}&${paging}`
  )
}

// ---------------------------------------------------------------------------------------------
// Errors and status

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

const showError = (text: string) => {
  byId("alert-text").textContent = text
  byId("alert").hidden = false
}

const clearError = () => {
  byId("alert").hidden = true
}

// runs an action from an event handler, its failure shown to the reader
const run = (action: () => Promise<void>) => {
  action().catch((error: unknown) => showError(messageOf(error)))
}

const renderUnread = () => {
  const count = byId("unread-count")
  count.textContent = String(state.unread)
  count.classList.toggle("zero", state.unread === 0)
  document.title = state.unread > 0 ? `(${state.unread}) Inbox` : "Inbox"
}

const setUnread = (unread: number) => {
  state.unread = Math.max(0, unread)
  renderUnread()
}

// ---------------------------------------------------------------------------------------------
// Routing: "/", "/search?q=…", "/view/{ID}"

const routeOf = (location: Location): Route => {
  if (location.pathname.startsWith("/view/")) {
    return { kind: "view", id: decodeURIComponent(location.pathname.slice("/view/".length)) }
  }
  if (location.pathname === "/search") {
    return { kind: "list", query: (new URLSearchParams(location.search).get("q") ?? "").trim() }
  }
  return { kind: "list", query: "" }
}

const urlOf = (route: Route): string => {
  if (route.kind === "view") return `/view/${encodeURIComponent(route.id)}`
  return route.query === "" ? "/" : `/search?${new URLSearchParams({ q: route.query }).toString()}`
}

// history state of a view opened from the list: going back is then the browser's back
interface HistoryState {
  readonly fromList: boolean
}

const navigate = (route: Route) => {
  const url = urlOf(route)
  if (url !== location.pathname + location.search) {
    const entry: HistoryState = { fromList: route.kind === "view" && isVisible("list-view") }
    history.pushState(entry, "", url)
  }
  show(route)
}

const show = (route: Route) => {
  clearError()
  if (route.kind === "view") showView(route.id)
  else showList(route.query)
}

const backToList = () => {
  const entry: unknown = history.state
  if (typeof entry === "object" && entry !== null && (entry as HistoryState).fromList) history.back()
  else navigate({ kind: "list", query: state.query })
}

// ---------------------------------------------------------------------------------------------
// The list

const showList = (query: string) => {
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
const loadList = async (query: string, count = PAGE_SIZE) => {
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

const reloadList = () => run(() => loadList(state.query, state.messages.length))

const loadMore = async () => {
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

const rowOf = (node: EventTarget | null): HTMLElement | null =>
  node instanceof Element ? node.closest<HTMLElement>('[data-testid="message-row"]') : null

const renderList = () => {
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

const renderSelection = () => {
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
const moveInList = (step: number) => {
  const links = [...byId("message-list").querySelectorAll<HTMLElement>("a.open")]
  if (links.length === 0) return
  const current = links.findIndex((link) => rowOf(link) === rowOf(document.activeElement))
  const next =
    current === -1 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, current + step))
  links[next]?.focus()
  links[next]?.scrollIntoView({ block: "nearest" })
}

// ---------------------------------------------------------------------------------------------
// Changes: made here, or told by the server; each applies once (the server echoes ours)

const summaryIndex = (id: string) => state.messages.findIndex((message) => message.ID === id)

const markLocally = (id: string, read: boolean) => {
  const index = summaryIndex(id)
  const message = state.messages[index]
  if (message === undefined || message.Read === read) return
  state.messages[index] = { ...message, Read: read }
  setUnread(state.unread + (read ? -1 : 1))
}

const removeLocally = (id: string) => {
  state.selected.delete(id)
  const index = summaryIndex(id)
  const message = state.messages[index]
  if (message === undefined) return
  state.messages.splice(index, 1)
  state.matching = Math.max(0, state.matching - 1)
  if (!message.Read) setUnread(state.unread - 1)
}

const setRead = async (ids: ReadonlyArray<string>, read: boolean) => {
  await request("PUT", "/api/v1/messages", { IDs: ids, Read: read })
  for (const id of ids) markLocally(id, read)
  renderList()
}

const deleteMessages = async (ids: ReadonlyArray<string>) => {
  if (ids.length === 0) return
  await request("DELETE", "/api/v1/messages", { IDs: ids })
  for (const id of ids) removeLocally(id)
  renderList()
}

// Delete key in the list: the ticked rows, else the focused one (the focus moves to the next)
const deleteFromList = async () => {
  const focused = rowOf(document.activeElement)?.dataset["id"]
  const ids = state.selected.size > 0 ? [...state.selected] : focused !== undefined ? [focused] : []
  if (state.selected.size === 0 && focused !== undefined) {
    const next = state.messages[summaryIndex(focused) + 1] ?? state.messages[summaryIndex(focused) - 1]
    state.focusOnReturn = next?.ID ?? ""
  }
  await deleteMessages(ids)
}

const deleteAll = async () => {
  if (!confirm("Delete all messages? This cannot be undone.")) return
  // no body: Mailpit's "delete everything"
  await request("DELETE", "/api/v1/messages")
  clearLocally()
}

const clearLocally = () => {
  state.messages = []
  state.matching = 0
  state.selected.clear()
  setUnread(0)
  renderList()
  if (isVisible("message-view")) backToList()
}

// ---------------------------------------------------------------------------------------------
// The message view

const showView = (id: string) => {
  byId("list-view").hidden = true
  byId("message-view").hidden = false
  state.openId = id
  state.open = undefined
  state.remoteImages = false
  clearView()
  run(() => loadMessage(id))
  // opened by deep link: the list too, for the unread count and the way back
  if (!state.loaded) run(() => loadList(""))
}

const clearView = () => {
  byId("view-subject").textContent = "Loading…"
  byId("view-meta").replaceChildren()
  byId("view-attachments").hidden = true
  byId("remote-note").hidden = true
  replaceFrame(undefined)
  for (const id of ["text-body", "source-body", "headers-body"]) byId(id).replaceChildren()
  state.sourceOf = ""
  state.headersOf = ""
}

const loadMessage = async (id: string) => {
  const requestNumber = ++state.viewRequest
  try {
    const message = await getJson<Message>(messagePath(id))
    if (requestNumber !== state.viewRequest || state.openId !== id) return
    state.open = message
    // opening marks it read on the server
    markLocally(id, true)
    renderView(message)
    byId("view-subject").focus()
  } catch (error) {
    if (requestNumber !== state.viewRequest) return
    byId("view-subject").textContent = "This message cannot be shown"
    throw error
  }
}

const renderView = (message: Message) => {
  byId("view-subject").textContent = subjectOf(message.Subject)
  renderMeta(message)
  renderAttachments(message)
  const eml = byId<HTMLAnchorElement>("download-eml")
  eml.href = `${messagePath(message.ID)}/raw?dl=1`
  eml.download = `${message.ID}.eml`
  renderReadButton(true)
  byId("text-body").textContent = message.Text !== "" ? message.Text : "(This message has no plain text part.)"
  byId<HTMLButtonElement>("tab-html").disabled = message.HTML === ""
  renderHtml()
  selectTab(message.HTML !== "" ? "html" : "text", false)
}

const renderMeta = (message: Message) => {
  const date = validDate(message.Date)
  const rows: ReadonlyArray<readonly [string, string]> = [
    ["From", message.From === null ? "" : addressText(message.From)],
    ["To", addressList(message.To)],
    ["Cc", addressList(message.Cc)],
    ["Bcc", addressList(message.Bcc)],
    ["Reply-To", addressList(message.ReplyTo)],
    ["Date", date === undefined ? "" : longDate(date)]
  ]
  byId("view-meta").replaceChildren(
    ...rows
      .filter(([name, value]) => value !== "" || name === "From" || name === "To")
      .map(([name, value]) => h("div", {}, [h("dt", { text: name }), h("dd", { text: value === "" ? "—" : value })]))
  )
}

const renderAttachments = (message: Message) => {
  const parts = message.Attachments ?? []
  const list = byId("view-attachments")
  list.replaceChildren(
    ...parts.map((part) => {
      const name = part.FileName !== "" ? part.FileName : part.ContentType
      const href = partUrl(message.ID, part)
      const link = h("a", { className: "attachment", attrs: { href, download: name, "data-testid": "attachment" } }, [
        paperclip(),
        h("span", { className: "attachment-name", text: name }),
        h("span", { className: "attachment-size", text: formatSize(part.Size) })
      ])
      link.title = `${name} (${part.ContentType}, ${formatSize(part.Size)})`
      return h("li", {}, [link])
    })
  )
  list.hidden = parts.length === 0
}

const renderReadButton = (read: boolean) => {
  state.openRead = read
  byId("unread-button").textContent = read ? "Mark unread" : "Mark read"
}

const toggleRead = async () => {
  const id = state.openId
  if (id === "") return
  const read = !state.openRead
  await setRead([id], read)
  if (state.openId === id) renderReadButton(read)
}

const deleteOpen = async () => {
  const id = state.openId
  if (id === "") return
  // no longer "open": the server's delete event for it is then not news to the reader
  state.openId = ""
  try {
    await deleteMessages([id])
  } catch (error) {
    state.openId = id
    throw error
  }
  state.focusOnReturn = ""
  backToList()
}

// ---------------------------------------------------------------------------------------------
// Tabs (WAI-ARIA tabs: arrows move between them, the selected one is in the tab order)

const selectTab = (tab: Tab, focus: boolean) => {
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

const onTabKey = (event: KeyboardEvent) => {
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

// ---------------------------------------------------------------------------------------------
// The message's HTML: untrusted. It is parsed inert (DOMParser runs no script and loads
// nothing), tidied, and shown in a sandboxed iframe without allow-scripts or allow-same-origin,
// under its own CSP: no script, no connections, images from this server (cid: parts) only until
// the reader asks for remote ones.

const remoteUrl = /^\s*(?:https?:)?\/\//i
const remoteCssUrl = /url\(\s*['"]?\s*(?:https?:)?\/\//i

const frameCsp = (remote: boolean) => {
  // 'self' of an opaque-origin document matches nothing: name this server outright
  const images = ["'self'", location.origin, "data:", "cid:", ...(remote ? ["https:", "http:"] : [])].join(" ")
  return `default-src 'none'; img-src ${images}; style-src 'unsafe-inline'; form-action 'none'`
}

const cidOf = (value: string) => {
  try {
    return decodeURIComponent(value.trim().slice("cid:".length)).replace(/^<|>$/g, "")
  } catch {
    return value.trim().slice("cid:".length)
  }
}

// cid:XXX -> the inline part whose Content-ID is XXX
const rewriteCids = (doc: Document, message: Message) => {
  const parts = [...(message.Inline ?? []), ...(message.Attachments ?? [])]
  for (const attribute of ["src", "background"]) {
    for (const node of doc.querySelectorAll(`[${attribute}]`)) {
      const value = node.getAttribute(attribute) ?? ""
      if (!/^\s*cid:/i.test(value)) continue
      const part = parts.find((candidate) => candidate.ContentID.replace(/^<|>$/g, "") === cidOf(value))
      if (part !== undefined) node.setAttribute(attribute, location.origin + partUrl(message.ID, part))
    }
  }
}

// whether anything would load from elsewhere: then the "show remote images" button is offered
const hasRemoteContent = (doc: Document): boolean => {
  for (const attribute of ["src", "srcset", "background", "poster"]) {
    for (const node of doc.querySelectorAll(`[${attribute}]`)) {
      const value = node.getAttribute(attribute) ?? ""
      if (attribute === "srcset" ? /(?:^|,)\s*(?:https?:)?\/\//i.test(value) : remoteUrl.test(value)) return true
    }
  }
  if ([...doc.querySelectorAll("[style]")].some((node) => remoteCssUrl.test(node.getAttribute("style") ?? "")))
    return true
  return [...doc.querySelectorAll("style")].some((node) => remoteCssUrl.test(node.textContent ?? ""))
}

// drops what the sandbox and CSP would block anyway, and what they would not: a <base> (would
// redirect links and parts) and <meta http-equiv="refresh"> (would navigate the frame away)
const tidy = (doc: Document) => {
  for (const node of doc.querySelectorAll("script, base, meta[http-equiv], object, embed, applet")) node.remove()
  for (const node of doc.querySelectorAll("*")) {
    for (const name of node.getAttributeNames()) if (/^on/i.test(name)) node.removeAttribute(name)
  }
}

const previewDocument = (message: Message, remote: boolean): { readonly html: string; readonly remote: boolean } => {
  const doc = new DOMParser().parseFromString(message.HTML, "text/html")
  tidy(doc)
  // before the cid: parts become URLs of this server, which would look remote
  const remoteContent = hasRemoteContent(doc)
  rewriteCids(doc, message)
  const meta = (attrs: Record<string, string>) => {
    const node = doc.createElement("meta")
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value)
    return node
  }
  const base = doc.createElement("base")
  base.setAttribute("target", "_blank")
  // first in <head>: the policy applies before anything in the message is read
  doc.head.prepend(
    meta({ charset: "utf-8" }),
    meta({ "http-equiv": "Content-Security-Policy", content: frameCsp(remote) }),
    meta({ name: "referrer", content: "no-referrer" }),
    base
  )
  const doctype = doc.doctype === null ? "" : "<!DOCTYPE html>\n"
  return { html: doctype + doc.documentElement.outerHTML, remote: remoteContent }
}

// A new iframe for each document: navigating the same one (a new srcdoc) would add an entry to
// the session history, and the Back button would then step through the frame's documents
const replaceFrame = (srcdoc: string | undefined) => {
  const old = byId<HTMLIFrameElement>("html-frame")
  const frame = old.cloneNode(false) as HTMLIFrameElement
  frame.removeAttribute("srcdoc")
  if (srcdoc !== undefined) frame.srcdoc = srcdoc
  old.replaceWith(frame)
}

const renderHtml = () => {
  const message = state.open
  if (message === undefined || message.HTML === "") {
    replaceFrame(undefined)
    byId("remote-note").hidden = true
    return
  }
  const preview = previewDocument(message, state.remoteImages)
  replaceFrame(preview.html)
  byId("remote-note").hidden = !preview.remote
  const button = byId("remote-images-button")
  button.textContent = state.remoteImages ? "Block remote images" : "Show remote images"
  button.setAttribute("aria-pressed", String(state.remoteImages))
  byId("remote-text").textContent = state.remoteImages
    ? "Remote images are shown: their servers see that you opened this message."
    : "Remote images are blocked."
}

// ---------------------------------------------------------------------------------------------
// Live: /api/events, reconnected with backoff

let reconnectDelay = 0
let connectedBefore = false

const setConnection = (live: boolean) => {
  const dot = byId("connection")
  dot.classList.toggle("live", live)
  dot.classList.toggle("offline", !live)
  const text = live ? "Live: new mail appears as it arrives" : "Disconnected: reconnecting…"
  dot.title = text
  byId("connection-text").textContent = text
}

const connect = () => {
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/events`)
  socket.addEventListener("open", () => {
    reconnectDelay = 0
    setConnection(true)
    // events were missed while away
    if (connectedBefore && state.loaded) reloadList()
    connectedBefore = true
  })
  socket.addEventListener("message", (event: MessageEvent<unknown>) => {
    const parsed = parseEvent(event.data)
    if (parsed !== undefined) onServerEvent(parsed)
  })
  socket.addEventListener("close", () => {
    setConnection(false)
    // 1 s, 2 s, 4 s … 30 s, with jitter so that many tabs do not come back at once
    reconnectDelay = Math.min(30_000, reconnectDelay === 0 ? 1000 : reconnectDelay * 2)
    setTimeout(connect, reconnectDelay * (0.75 + Math.random() / 2))
  })
}

const parseEvent = (data: unknown): ServerEvent | undefined => {
  if (typeof data !== "string") return undefined
  try {
    const value: unknown = JSON.parse(data)
    return typeof value === "object" && value !== null && "Type" in value ? (value as ServerEvent) : undefined
  } catch {
    return undefined
  }
}

const onServerEvent = (event: ServerEvent) => {
  switch (event.Type) {
    case "new":
      return onNew(event.Data)
    case "update":
      if (typeof event.Data.Read === "boolean") markLocally(event.Data.ID, event.Data.Read)
      if (event.Data.ID === state.openId && typeof event.Data.Read === "boolean") renderReadButton(event.Data.Read)
      return renderIfListed()
    case "delete":
      removeLocally(event.Data.ID)
      if (event.Data.ID === state.openId && isVisible("message-view")) {
        backToList()
        showError("The message you were reading has been deleted.")
      }
      return renderIfListed()
    case "truncate":
      return clearLocally()
    case "prune":
      if (state.loaded) reloadList()
      return
    case "stats":
      return setUnread(event.Data.Unread)
  }
}

// the list (the DOM) follows the state when it is on screen; it renders on return otherwise
const renderIfListed = () => {
  if (state.loaded && isVisible("list-view")) renderList()
}

const onNew = (message: Summary) => {
  if (!state.loaded || summaryIndex(message.ID) !== -1) return
  if (state.query !== "") {
    // the server decides what matches a search: offer to ask it again
    byId("new-mail-notice").hidden = false
    return
  }
  state.messages.unshift(message)
  state.matching++
  state.arrived.add(message.ID)
  if (!message.Read) setUnread(state.unread + 1)
  renderIfListed()
}

// ---------------------------------------------------------------------------------------------
// Keyboard: "/" search, j/k move, Delete deletes, Escape goes back or clears the search

const isTyping = (target: EventTarget | null) =>
  target instanceof HTMLTextAreaElement ||
  target instanceof HTMLSelectElement ||
  (target instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit"].includes(target.type)) ||
  (target instanceof HTMLElement && target.isContentEditable)

const onKey = (event: KeyboardEvent) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented || isTyping(event.target)) return
  const inView = isVisible("message-view")
  const actions: Record<string, (() => void) | undefined> = {
    "/": () => byId("search-input").focus(),
    j: inView ? undefined : () => moveInList(1),
    k: inView ? undefined : () => moveInList(-1),
    Delete: () => run(inView ? deleteOpen : deleteFromList),
    Escape: inView ? backToList : state.query !== "" ? () => navigate({ kind: "list", query: "" }) : undefined
  }
  const action = actions[event.key]
  if (action === undefined) return
  event.preventDefault()
  action()
}

const onSearchKey = (event: KeyboardEvent) => {
  if (event.key !== "Escape") return
  event.preventDefault()
  event.stopPropagation()
  const input = byId<HTMLInputElement>("search-input")
  if (input.value === "" && state.query === "") return input.blur()
  input.value = ""
  if (state.query !== "" || isVisible("message-view")) navigate({ kind: "list", query: "" })
}

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
  on("tabs", "keydown", onTabKey)
  for (const tab of TABS) on(`tab-${tab}`, "click", () => selectTab(tab, false))
  document.addEventListener("keydown", onKey)
  window.addEventListener("popstate", () => show(routeOf(location)))
  renderUnread()
  show(routeOf(location))
  connect()
}

start()
