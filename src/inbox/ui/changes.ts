/** A message read or unread, or gone: in the state, once, whoever made the change. */
import { request } from "./api.js"
import { renderList } from "./list.js"
import { state } from "./state.js"
import { setUnread } from "./status.js"

// ---------------------------------------------------------------------------------------------
// Changes: made here, or told by the server; each applies once (the server echoes ours)

export const summaryIndex = (id: string) => state.messages.findIndex((message) => message.ID === id)

export const markLocally = (id: string, read: boolean) => {
  const index = summaryIndex(id)
  const message = state.messages[index]
  if (message === undefined || message.Read === read) return
  state.messages[index] = { ...message, Read: read }
  setUnread(state.unread + (read ? -1 : 1))
}

export const removeLocally = (id: string) => {
  state.selected.delete(id)
  const index = summaryIndex(id)
  const message = state.messages[index]
  if (message === undefined) return
  state.messages.splice(index, 1)
  state.matching = Math.max(0, state.matching - 1)
  if (!message.Read) setUnread(state.unread - 1)
}

export const setRead = async (ids: ReadonlyArray<string>, read: boolean) => {
  await request("PUT", "/api/v1/messages", { IDs: ids, Read: read })
  for (const id of ids) markLocally(id, read)
  renderList()
}
