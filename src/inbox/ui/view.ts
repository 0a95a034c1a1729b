/** One message at its own address: loading it, its subject, addresses, attachments and body. */
import { getJson, messagePath, partUrl, type Message } from "./api.js"
import { markLocally, setRead } from "./changes.js"
import { clearChecks } from "./checks.js"
import { byId, h, paperclip } from "./dom.js"
import { addressList, addressText, formatSize, longDate, subjectOf, validDate } from "./format.js"
import { loadList } from "./list.js"
import { renderHtml, replaceFrame } from "./preview.js"
import { state } from "./state.js"
import { run } from "./status.js"
import { selectTab } from "./tabs.js"

// ---------------------------------------------------------------------------------------------
// The message view

export const showView = (id: string) => {
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
  clearChecks()
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

export const renderReadButton = (read: boolean) => {
  state.openRead = read
  byId("unread-button").textContent = read ? "Mark unread" : "Mark read"
}

export const toggleRead = async () => {
  const id = state.openId
  if (id === "") return
  const read = !state.openRead
  await setRead([id], read)
  if (state.openId === id) renderReadButton(read)
}
