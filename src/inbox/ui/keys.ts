/** The keyboard shortcuts. */
import { deleteFromList, deleteOpen } from "./delete.js"
import { byId, isVisible } from "./dom.js"
import { moveInList } from "./list.js"
import { backToList, navigate } from "./navigation.js"
import { state } from "./state.js"
import { run } from "./status.js"

// ---------------------------------------------------------------------------------------------
// Keyboard: "/" search, j/k move, Delete deletes, Escape goes back or clears the search

const isTyping = (target: EventTarget | null) =>
  target instanceof HTMLTextAreaElement ||
  target instanceof HTMLSelectElement ||
  (target instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit"].includes(target.type)) ||
  (target instanceof HTMLElement && target.isContentEditable)

export const onKey = (event: KeyboardEvent) => {
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

export const onSearchKey = (event: KeyboardEvent) => {
  if (event.key !== "Escape") return
  event.preventDefault()
  event.stopPropagation()
  const input = byId<HTMLInputElement>("search-input")
  if (input.value === "" && state.query === "") return input.blur()
  input.value = ""
  if (state.query !== "" || isVisible("message-view")) navigate({ kind: "list", query: "" })
}
