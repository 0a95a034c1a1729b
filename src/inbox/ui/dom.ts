/** Element helpers: the page's own elements, and new ones built from values, never from markup. */

// ---------------------------------------------------------------------------------------------
// DOM helpers

// an element of index.html: missing means the page and the script disagree
export const byId = <T extends HTMLElement = HTMLElement>(id: string): T => {
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
export const h = <K extends keyof HTMLElementTagNameMap>(
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
export const paperclip = (): SVGSVGElement => {
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

export const isVisible = (id: string) => !byId(id).hidden
