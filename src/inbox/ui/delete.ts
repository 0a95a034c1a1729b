/** Deleting: the ticked or focused rows, the open message, or everything. */
import { request } from "./api.js"
import { removeLocally, summaryIndex } from "./changes.js"
import { isVisible } from "./dom.js"
import { renderList, rowOf } from "./list.js"
import { backToList } from "./navigation.js"
import { state } from "./state.js"
import { setUnread } from "./status.js"

export const deleteMessages = async (ids: ReadonlyArray<string>) => {
  if (ids.length === 0) return
  await request("DELETE", "/api/v1/messages", { IDs: ids })
  for (const id of ids) removeLocally(id)
  renderList()
}

// Delete key in the list: the ticked rows, else the focused one (the focus moves to the next)
export const deleteFromList = async () => {
  const focused = rowOf(document.activeElement)?.dataset["id"]
  const ids = state.selected.size > 0 ? [...state.selected] : focused !== undefined ? [focused] : []
  if (state.selected.size === 0 && focused !== undefined) {
    const next = state.messages[summaryIndex(focused) + 1] ?? state.messages[summaryIndex(focused) - 1]
    state.focusOnReturn = next?.ID ?? ""
  }
  await deleteMessages(ids)
}

export const deleteAll = async () => {
  if (!confirm("Delete all messages? This cannot be undone.")) return
  // no body: Mailpit's "delete everything"
  await request("DELETE", "/api/v1/messages")
  clearLocally()
}

export const clearLocally = () => {
  state.messages = []
  state.matching = 0
  state.selected.clear()
  setUnread(0)
  renderList()
  if (isVisible("message-view")) backToList()
}

export const deleteOpen = async () => {
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
