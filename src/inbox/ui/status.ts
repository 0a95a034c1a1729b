/** The error banner, and the unread count in the header and the title. */
import { byId } from "./dom.js"
import { state } from "./state.js"

// ---------------------------------------------------------------------------------------------
// Errors and status

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

export const showError = (text: string) => {
  byId("alert-text").textContent = text
  byId("alert").hidden = false
}

export const clearError = () => {
  byId("alert").hidden = true
}

// runs an action from an event handler, its failure shown to the reader
export const run = (action: () => Promise<void>) => {
  action().catch((error: unknown) => showError(messageOf(error)))
}

export const renderUnread = () => {
  const count = byId("unread-count")
  count.textContent = String(state.unread)
  count.classList.toggle("zero", state.unread === 0)
  document.title = state.unread > 0 ? `(${state.unread}) Inbox` : "Inbox"
}

export const setUnread = (unread: number) => {
  state.unread = Math.max(0, unread)
  renderUnread()
}
