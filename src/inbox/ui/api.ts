/** The inbox's server: Mailpit's API v1 on the same origin, its shapes and its requests. */

// ---------------------------------------------------------------------------------------------
// The API's shapes (Mailpit v1; only the fields the page reads)

export interface Address {
  readonly Name: string
  readonly Address: string
}

export interface Summary {
  readonly ID: string
  readonly Read: boolean
  readonly From: Address | null
  readonly Subject: string
  readonly Created: string
  readonly Size: number
  /** A count, not a list. */
  readonly Attachments: number
  readonly Snippet: string
}

export interface Page {
  readonly unread: number
  readonly messages_count: number
  readonly messages: ReadonlyArray<Summary>
}

export interface Part {
  readonly PartID: string
  readonly FileName: string
  readonly ContentType: string
  readonly ContentID: string
  readonly Size: number
}

export type Addresses = ReadonlyArray<Address> | null

export interface Message {
  readonly ID: string
  readonly From: Address | null
  readonly To: Addresses
  readonly Cc: Addresses
  readonly Bcc: Addresses
  readonly ReplyTo: Addresses
  readonly Subject: string
  readonly Date: string
  readonly Text: string
  readonly HTML: string
  readonly Inline: ReadonlyArray<Part> | null
  readonly Attachments: ReadonlyArray<Part> | null
}

/** A frame of /api/events. */
export type ServerEvent =
  | { readonly Type: "new"; readonly Data: Summary }
  | { readonly Type: "update"; readonly Data: { readonly ID: string; readonly Read?: boolean } }
  | { readonly Type: "delete"; readonly Data: { readonly ID: string } }
  | { readonly Type: "truncate" | "prune"; readonly Data: null }
  | { readonly Type: "stats"; readonly Data: { readonly Total: number; readonly Unread: number } }

// ---------------------------------------------------------------------------------------------
// The API

export const messagePath = (id: string) => `/api/v1/message/${encodeURIComponent(id)}`
export const partUrl = (id: string, part: Part) => `${messagePath(id)}/part/${encodeURIComponent(part.PartID)}`

// the error a failed request carries: Mailpit-style {"Error": "..."} or plain text
const errorOf = async (response: Response): Promise<string> => {
  const text = await response.text().catch(() => "")
  try {
    const body: unknown = JSON.parse(text)
    if (typeof body === "object" && body !== null && "Error" in body && typeof body.Error === "string")
      return body.Error
  } catch {
    // not JSON: the text itself
  }
  return text.trim() !== "" ? text.trim() : `${response.status} ${response.statusText}`
}

export const request = async (method: string, path: string, body?: unknown): Promise<Response> => {
  const init: RequestInit = { method, headers: { accept: "application/json" } }
  if (body !== undefined) {
    init.body = JSON.stringify(body)
    init.headers = { accept: "application/json", "content-type": "application/json" }
  }
  const response = await fetch(path, init)
  if (!response.ok) throw new Error(await errorOf(response))
  return response
}

export const getJson = async <T>(path: string): Promise<T> => (await (await request("GET", path)).json()) as T

export const fetchPage = (query: string, start: number, limit: number): Promise<Page> => {
  const paging = `start=${start}&limit=${limit}`
  return getJson<Page>(
    query === "" ? `/api/v1/messages?${paging}` : `/api/v1/search?query=${encodeURIComponent(query)}&${paging}`
  )
}
