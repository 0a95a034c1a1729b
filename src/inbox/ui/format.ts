/** How addresses, sizes and dates read on the page. */
import type { Address, Addresses } from "./api.js"

// ---------------------------------------------------------------------------------------------
// Formatting

export const subjectOf = (subject: string | undefined) =>
  subject === undefined || subject.trim() === "" ? "(no subject)" : subject

export const senderOf = (from: Address | null) => {
  const name = from?.Name.trim() ?? ""
  return name !== "" ? name : from?.Address || "(unknown sender)"
}

export const addressText = (address: Address) =>
  address.Name.trim() === ""
    ? address.Address
    : address.Address === ""
      ? address.Name
      : `${address.Name} <${address.Address}>`

export const addressList = (addresses: Addresses) => (addresses ?? []).map(addressText).join(", ")

export const formatSize = (bytes: number): string => {
  if (bytes < 1024) return `${bytes} B`
  const units = ["kB", "MB", "GB"]
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`
}

export const validDate = (iso: string): Date | undefined => {
  const date = new Date(iso)
  // Go's zero time ("0001-01-01…") is how a message without a Date: header may come
  return Number.isNaN(date.getTime()) || date.getFullYear() < 1970 ? undefined : date
}

// today: the time; this year: day and month; before: the full date
export const shortDate = (date: Date): string => {
  const now = new Date()
  if (date.toDateString() === now.toDateString())
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
  if (date.getFullYear() === now.getFullYear()) return date.toLocaleDateString([], { month: "short", day: "numeric" })
  return date.toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" })
}

export const longDate = (date: Date) => date.toLocaleString([], { dateStyle: "full", timeStyle: "medium" })
