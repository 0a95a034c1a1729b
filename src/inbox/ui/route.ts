/** The page's addresses: which route a URL is, and the URL of a route. */

// ---------------------------------------------------------------------------------------------
// Routing: "/", "/search?q=…", "/view/{ID}"

export type Route = { readonly kind: "list"; readonly query: string } | { readonly kind: "view"; readonly id: string }

export const routeOf = (location: Location): Route => {
  if (location.pathname.startsWith("/view/")) {
    return { kind: "view", id: decodeURIComponent(location.pathname.slice("/view/".length)) }
  }
  if (location.pathname === "/search") {
    return { kind: "list", query: (new URLSearchParams(location.search).get("q") ?? "").trim() }
  }
  return { kind: "list", query: "" }
}

export const urlOf = (route: Route): string => {
  if (route.kind === "view") return `/view/${encodeURIComponent(route.id)}`
  return route.query === "" ? "/" : `/search?${new URLSearchParams({ q: route.query }).toString()}`
}
