/**
 * The date-time of mail header fields (RFC 5322 §3.3) in UTC: `Sun, 06 Dec 2026 23:40:00 +0000`,
 * as the `Received:` field and the delivery status notices write it.
 *
 * @since 0.2.0
 */

const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const two = (n: number) => String(n).padStart(2, "0")

/**
 * `millis` (since the epoch) as an RFC 5322 date-time in UTC.
 *
 * @since 0.2.0
 * @category formatting
 */
export const format = (millis: number): string => {
  const d = new Date(millis)
  const time = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`
  return `${days[d.getUTCDay()]}, ${two(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${time} +0000`
}
