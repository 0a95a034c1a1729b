/** The server's news of changes over a websocket, reconnected when it drops. */
import type { ServerEvent, Summary } from "./api.js"
import { markLocally, removeLocally, summaryIndex } from "./changes.js"
import { clearLocally } from "./delete.js"
import { byId, isVisible } from "./dom.js"
import { reloadList, renderList } from "./list.js"
import { backToList } from "./navigation.js"
import { state } from "./state.js"
import { setUnread, showError } from "./status.js"
import { renderReadButton } from "./view.js"

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

export const connect = () => {
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
