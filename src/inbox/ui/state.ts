/** The page's state: the list as loaded, the selection and the message in the view. */
import type { Message, Summary } from "./api.js"

// ---------------------------------------------------------------------------------------------
// State

export const state = {
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
