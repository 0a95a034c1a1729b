/** Moving between the list and the view: the browser's history and what the page shows. */
import { isVisible } from "./dom.js"
import { showList } from "./list.js"
import { urlOf, type Route } from "./route.js"
import { state } from "./state.js"
import { clearError } from "./status.js"
import { showView } from "./view.js"

// history state of a view opened from the list: going back is then the browser's back
interface HistoryState {
  readonly fromList: boolean
}

export const navigate = (route: Route) => {
  const url = urlOf(route)
  if (url !== location.pathname + location.search) {
    const entry: HistoryState = { fromList: route.kind === "view" && isVisible("list-view") }
    history.pushState(entry, "", url)
  }
  show(route)
}

export const show = (route: Route) => {
  clearError()
  if (route.kind === "view") showView(route.id)
  else showList(route.query)
}

export const backToList = () => {
  const entry: unknown = history.state
  if (typeof entry === "object" && entry !== null && (entry as HistoryState).fromList) history.back()
  else navigate({ kind: "list", query: state.query })
}
