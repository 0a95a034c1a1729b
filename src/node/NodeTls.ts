/**
 * The server's TLS on `node:tls`: certificates and keys from PEM files (several, chosen by SNI),
 * checked at start-up and reloadable without a restart, the server side of a handshake over an
 * accepted socket (STARTTLS or implicit TLS), and what a session may know of the result.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import type * as Net from "node:net"
import * as Tls from "node:tls"
import { TlsConfigError } from "../server/SmtpServer.js"
import * as Transport from "../internal/Transport.js"

/**
 * @since 0.1.0
 * @category errors
 */
export { TlsConfigError }

/**
 * A certificate (with its chain, leaf first) and its private key, as PEM files.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyPair {
  readonly certFile: string
  readonly keyFile: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends KeyPair {
  /**
   * CA certificates (PEM) that client certificates are checked against, with
   * `requestClientCert`. Without it Node's bundled public CAs are the judges.
   */
  readonly caFile?: string | undefined
  /**
   * Ask clients for a certificate (default false). One is never required: a client without one,
   * or with one the CA does not vouch for, still gets its session, and `TlsInfo` tells which.
   */
  readonly requestClientCert?: boolean | undefined
  /**
   * Other certificates by the server name a client asks for (SNI, RFC 6066 §3): `mx.example.com`,
   * or `*.example.com` for any one label in front of `example.com`. Other names, and clients
   * that send none, get the main certificate.
   */
  readonly sni?: Readonly<Record<string, KeyPair>> | undefined
  /** Time a client has to complete the handshake (default 30 seconds). */
  readonly handshakeTimeout?: Duration.Input | undefined
  /** Oldest protocol version accepted (default `TLSv1.2`, RFC 8996 / RFC 8314 §4.1). */
  readonly minVersion?: Tls.SecureVersion | undefined
}

/**
 * The server's certificates, loaded and checked; `reload` swaps in fresh ones.
 *
 * @since 0.1.0
 * @category models
 */
export interface Contexts {
  /** The main certificate's context, as of now (the one handshakes start with). */
  readonly current: () => Tls.SecureContext
  /** Picks the certificate for the name a client asks for (Node's `SNICallback`). */
  readonly SNICallback: (
    servername: string,
    callback: (error: Error | null, context?: Tls.SecureContext) => void
  ) => void
  /** Reads every file again and swaps all contexts at once; on failure keeps the old ones. */
  readonly reload: Effect.Effect<void, TlsConfigError>
  readonly requestCert: boolean
  readonly handshakeTimeout: Duration.Duration
}

interface Loaded {
  readonly main: Tls.SecureContext
  readonly exact: ReadonlyMap<string, Tls.SecureContext>
  /** `*.example.com` under `example.com` */
  readonly wildcard: ReadonlyMap<string, Tls.SecureContext>
}

const configError = (message: string, file?: string) =>
  new TlsConfigError(file === undefined ? { message } : { file, message })

// the reason from an fs or OpenSSL error (`ENOENT`, `PEM routines::no start line`), without a stack
const reason = (cause: unknown): string => {
  if (typeof cause === "object" && cause !== null) {
    const { code, message } = cause as { code?: unknown; message?: unknown }
    if (typeof message === "string") {
      // fs: "ENOENT: no such file or directory, open '/x'" (the path is named by the caller)
      if (typeof code === "string" && message.startsWith(`${code}: `)) return message.split(",")[0]!
      return message.replace(/^error:[0-9A-F]+:/, "")
    }
  }
  return String(cause)
}

const readFile = (file: string, what: string) =>
  Effect.tryPromise({
    try: () => Fs.readFile(file, "utf8"),
    catch: (cause) => configError(`cannot read the ${what} file ${file}: ${reason(cause)}`, file)
  })

const readPair = (pair: KeyPair, name: string) =>
  Effect.gen(function* () {
    const [cert, key] = yield* Effect.all([readFile(pair.certFile, "certificate"), readFile(pair.keyFile, "key")], {
      concurrency: 2
    })
    const x509 = yield* Effect.try({
      try: () => new Crypto.X509Certificate(cert),
      catch: (cause) => configError(`${pair.certFile} holds no PEM certificate: ${reason(cause)}`, pair.certFile)
    })
    const privateKey = yield* Effect.try({
      try: () => Crypto.createPrivateKey(key),
      catch: (cause) =>
        configError(`${pair.keyFile} holds no unencrypted PEM private key: ${reason(cause)}`, pair.keyFile)
    })
    if (!x509.checkPrivateKey(privateKey)) {
      return yield* configError(
        `the key in ${pair.keyFile} does not belong to the certificate in ${pair.certFile}`,
        pair.keyFile
      )
    }
    const expires = Date.parse(x509.validTo)
    if (expires < Date.now()) {
      yield* Effect.logWarning(`the certificate for ${name} in ${pair.certFile} expired on ${x509.validTo}`)
    }
    return { cert, key }
  })

const secureContext = (options: Options, pair: KeyPair, pem: { cert: string; key: string }, ca: string | undefined) =>
  Effect.try({
    try: () =>
      Tls.createSecureContext({
        cert: pem.cert,
        key: pem.key,
        minVersion: options.minVersion ?? "TLSv1.2",
        // OpenSSL refuses to resume sessions of a server that verifies peers without one
        sessionIdContext: "effect-smtpd",
        ...(ca !== undefined ? { ca } : {})
      }),
    catch: (cause) =>
      configError(
        `cannot use the certificate ${pair.certFile} with the key ${pair.keyFile}: ${reason(cause)}`,
        pair.certFile
      )
  })

const serverName = /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

const loadAll = (options: Options): Effect.Effect<Loaded, TlsConfigError> =>
  Effect.gen(function* () {
    let ca: string | undefined
    if (options.caFile !== undefined) {
      const text = yield* readFile(options.caFile, "CA")
      yield* Effect.try({
        try: () => new Crypto.X509Certificate(text),
        catch: (cause) => configError(`${options.caFile} holds no PEM certificate: ${reason(cause)}`, options.caFile)
      })
      ca = text
    }
    const mainPem = yield* readPair(options, "the server")
    const main = yield* secureContext(options, options, mainPem, ca)
    const exact = new Map<string, Tls.SecureContext>()
    const wildcard = new Map<string, Tls.SecureContext>()
    for (const [name, pair] of Object.entries(options.sni ?? {})) {
      const lower = name.toLowerCase()
      if (!serverName.test(lower)) {
        return yield* configError(`sni: ${JSON.stringify(name)} is not a host name or *.domain`)
      }
      const context = yield* secureContext(options, pair, yield* readPair(pair, name), ca)
      if (lower.startsWith("*.")) wildcard.set(lower.slice(2), context)
      else exact.set(lower, context)
    }
    return { main, exact, wildcard }
  })

/**
 * Loads and checks every certificate, key and CA file. Any that cannot be read or used, or a
 * key that does not match its certificate, fails here, naming the file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (options: Options): Effect.Effect<Contexts, TlsConfigError> =>
  Effect.gen(function* () {
    const handshakeTimeout = Duration.fromInputUnsafe(options.handshakeTimeout ?? "30 seconds")
    // one cell, replaced whole: a handshake sees the old set or the new one, never a mix
    let loaded = yield* loadAll(options)
    const reload = loadAll(options).pipe(
      Effect.tap((next) =>
        Effect.sync(() => {
          loaded = next
        })
      ),
      Effect.andThen(Effect.logInfo("TLS certificates reloaded")),
      Effect.tapError((error) => Effect.logWarning(`TLS certificates not reloaded: ${error.message}`))
    )
    const SNICallback: Contexts["SNICallback"] = (servername, callback) => {
      const current = loaded
      const name = servername.toLowerCase()
      const dot = name.indexOf(".")
      const context = current.exact.get(name) ?? (dot > 0 ? current.wildcard.get(name.slice(dot + 1)) : undefined)
      callback(null, context ?? current.main)
    }
    return {
      current: () => loaded.main,
      SNICallback,
      reload,
      requestCert: options.requestClientCert ?? false,
      handshakeTimeout
    }
  })

/**
 * The server's side of a TLS handshake over a connected socket (after STARTTLS's 220, or at
 * once on an implicit-TLS listener), within the handshake timeout. On failure or interruption
 * the socket is destroyed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const handshake = (
  contexts: Contexts,
  socket: Net.Socket
): Effect.Effect<Tls.TLSSocket, Transport.TransportError> =>
  Effect.callback((resume) => {
    if (socket.destroyed) {
      return resume(Effect.fail(new Transport.TransportError({ cause: new Error("connection closed before TLS") })))
    }
    // a client certificate is asked for but never required (rejectUnauthorized: false), so
    // that a session can decide what an unverified one is worth
    const secured = new Tls.TLSSocket(socket, {
      isServer: true,
      secureContext: contexts.current(),
      SNICallback: contexts.SNICallback,
      requestCert: contexts.requestCert,
      rejectUnauthorized: false
    })
    let settled = false
    const fail = (cause: unknown) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      secured.destroy()
      socket.destroy()
      resume(Effect.fail(new Transport.TransportError({ cause })))
    }
    // stays: an 'error' with no listener would crash the process (the transport adds its own)
    secured.on("error", fail)
    // the client's FIN before the handshake is done (the socket is half-open, so no 'close')
    const closed = () => fail(new Error("connection closed during the TLS handshake"))
    secured.once("end", closed)
    secured.once("close", closed)
    secured.once("secure", () => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(Effect.succeed(secured))
    })
    const ms = Duration.toMillis(contexts.handshakeTimeout)
    const timer = setTimeout(
      () => fail(new Error("TLS handshake timed out")),
      Number.isFinite(ms) ? Math.min(ms, 2 ** 31 - 1) : 2 ** 31 - 1
    )
    return Effect.sync(() => {
      settled = true
      clearTimeout(timer)
      secured.destroy()
      socket.destroy()
    })
  })

const oneLine = (name: string) => name.replace(/\n/g, ", ")

// Node sets `authorized` only on sockets that a `tls.Server` accepted; for a TLSSocket made by
// hand the verification result is on its handle (what `tls.Server` reads itself)
const verified = (socket: Tls.TLSSocket): boolean => {
  const handle = (socket as unknown as { readonly ssl?: { readonly verifyError?: () => unknown } }).ssl
  if (typeof handle?.verifyError === "function") return handle.verifyError() == null
  return socket.authorized
}

/**
 * What handlers may know of an established TLS session: protocol, cipher, the server name
 * the client asked for, and its certificate, if it gave one.
 *
 * @since 0.1.0
 * @category utils
 */
export const tlsInfo = (socket: Tls.TLSSocket): Transport.TlsInfo => {
  const cipher = socket.getCipher()
  const servername = typeof socket.servername === "string" && socket.servername !== "" ? socket.servername : undefined
  const peer = socket.getPeerX509Certificate()
  return {
    protocol: socket.getProtocol() ?? cipher.version,
    cipher: cipher.standardName ?? cipher.name,
    ...(servername !== undefined ? { servername } : {}),
    ...(peer !== undefined
      ? {
          clientCertificate: {
            subject: oneLine(peer.subject),
            issuer: oneLine(peer.issuer),
            fingerprint256: peer.fingerprint256,
            authorized: verified(socket)
          }
        }
      : {})
  }
}
