/** The message's HTML, shown in a sandboxed iframe. */
import { partUrl, type Message } from "./api.js"
import { byId } from "./dom.js"
import { state } from "./state.js"

// ---------------------------------------------------------------------------------------------
// The message's HTML: untrusted. It is parsed inert (DOMParser runs no script and loads
// nothing), tidied, and shown in a sandboxed iframe without allow-scripts or allow-same-origin,
// under its own CSP: no script, no connections, images from this server (cid: parts) only until
// the reader asks for remote ones.

const remoteUrl = /^\s*(?:https?:)?\/\//i
const remoteCssUrl = /url\(\s*['"]?\s*(?:https?:)?\/\//i

const frameCsp = (remote: boolean) => {
  // 'self' of an opaque-origin document matches nothing: name this server outright
  const images = ["'self'", location.origin, "data:", "cid:", ...(remote ? ["https:", "http:"] : [])].join(" ")
  return `default-src 'none'; img-src ${images}; style-src 'unsafe-inline'; form-action 'none'`
}

const cidOf = (value: string) => {
  try {
    return decodeURIComponent(value.trim().slice("cid:".length)).replace(/^<|>$/g, "")
  } catch {
    return value.trim().slice("cid:".length)
  }
}

// cid:XXX -> the inline part whose Content-ID is XXX
const rewriteCids = (doc: Document, message: Message) => {
  const parts = [...(message.Inline ?? []), ...(message.Attachments ?? [])]
  for (const attribute of ["src", "background"]) {
    for (const node of doc.querySelectorAll(`[${attribute}]`)) {
      const value = node.getAttribute(attribute) ?? ""
      if (!/^\s*cid:/i.test(value)) continue
      const part = parts.find((candidate) => candidate.ContentID.replace(/^<|>$/g, "") === cidOf(value))
      if (part !== undefined) node.setAttribute(attribute, location.origin + partUrl(message.ID, part))
    }
  }
}

// whether anything would load from elsewhere: then the "show remote images" button is offered
const hasRemoteContent = (doc: Document): boolean => {
  for (const attribute of ["src", "srcset", "background", "poster"]) {
    for (const node of doc.querySelectorAll(`[${attribute}]`)) {
      const value = node.getAttribute(attribute) ?? ""
      if (attribute === "srcset" ? /(?:^|,)\s*(?:https?:)?\/\//i.test(value) : remoteUrl.test(value)) return true
    }
  }
  if ([...doc.querySelectorAll("[style]")].some((node) => remoteCssUrl.test(node.getAttribute("style") ?? "")))
    return true
  return [...doc.querySelectorAll("style")].some((node) => remoteCssUrl.test(node.textContent ?? ""))
}

// drops what the sandbox and CSP would block anyway, and what they would not: a <base> (would
// redirect links and parts) and <meta http-equiv="refresh"> (would navigate the frame away)
const tidy = (doc: Document) => {
  for (const node of doc.querySelectorAll("script, base, meta[http-equiv], object, embed, applet")) node.remove()
  for (const node of doc.querySelectorAll("*")) {
    for (const name of node.getAttributeNames()) if (/^on/i.test(name)) node.removeAttribute(name)
  }
}

const previewDocument = (message: Message, remote: boolean): { readonly html: string; readonly remote: boolean } => {
  const doc = new DOMParser().parseFromString(message.HTML, "text/html")
  tidy(doc)
  // before the cid: parts become URLs of this server, which would look remote
  const remoteContent = hasRemoteContent(doc)
  rewriteCids(doc, message)
  const meta = (attrs: Record<string, string>) => {
    const node = doc.createElement("meta")
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value)
    return node
  }
  const base = doc.createElement("base")
  base.setAttribute("target", "_blank")
  // first in <head>: the policy applies before anything in the message is read
  doc.head.prepend(
    meta({ charset: "utf-8" }),
    meta({ "http-equiv": "Content-Security-Policy", content: frameCsp(remote) }),
    meta({ name: "referrer", content: "no-referrer" }),
    base
  )
  const doctype = doc.doctype === null ? "" : "<!DOCTYPE html>\n"
  return { html: doctype + doc.documentElement.outerHTML, remote: remoteContent }
}

// A new iframe for each document: navigating the same one (a new srcdoc) would add an entry to
// the session history, and the Back button would then step through the frame's documents
export const replaceFrame = (srcdoc: string | undefined) => {
  const old = byId<HTMLIFrameElement>("html-frame")
  const frame = old.cloneNode(false) as HTMLIFrameElement
  frame.removeAttribute("srcdoc")
  if (srcdoc !== undefined) frame.srcdoc = srcdoc
  old.replaceWith(frame)
}

export const renderHtml = () => {
  const message = state.open
  if (message === undefined || message.HTML === "") {
    replaceFrame(undefined)
    byId("remote-note").hidden = true
    return
  }
  const preview = previewDocument(message, state.remoteImages)
  replaceFrame(preview.html)
  byId("remote-note").hidden = !preview.remote
  const button = byId("remote-images-button")
  button.textContent = state.remoteImages ? "Block remote images" : "Show remote images"
  button.setAttribute("aria-pressed", String(state.remoteImages))
  byId("remote-text").textContent = state.remoteImages
    ? "Remote images are shown: their servers see that you opened this message."
    : "Remote images are blocked."
}
