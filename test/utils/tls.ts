// Test certificates made with the openssl command in a temporary directory, removed when the
// scope closes: a CA, and certificates it signs for localhost (also 127.0.0.1 and ::1),
// other.test (for SNI) and a client. EC P-256 keys, so making them all takes a few openssl runs
// rather than seconds of RSA; build them once per test file (a layer, or beforeAll).
import { Context, Data, Effect, Layer } from "effect"
import type { Scope } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { type ProcessError, runProcess } from "./process.js"

export class OpensslError extends Data.TaggedError("OpensslError")<{ readonly message: string }> {}

/** A certificate and its key: files, and their PEM text. */
export interface Issued {
  readonly certFile: string
  readonly keyFile: string
  readonly cert: string
  readonly key: string
  /** SHA-256 fingerprint as Node prints it (`AB:CD:…`). */
  readonly fingerprint256: string
}

export interface IssueOptions {
  /** Extra names (DNS) and addresses (IP) besides the common name. */
  readonly dns?: ReadonlyArray<string> | undefined
  readonly ip?: ReadonlyArray<string> | undefined
  /** A client certificate (extendedKeyUsage clientAuth) rather than a server one. */
  readonly client?: boolean | undefined
  /** Sign it with its own key instead of the CA's (a certificate nobody vouches for). */
  readonly selfSigned?: boolean | undefined
}

export interface TestCertificates {
  readonly dir: string
  readonly ca: { readonly certFile: string; readonly cert: string }
  /** CN=localhost, DNS:localhost, IP:127.0.0.1, IP:::1 */
  readonly localhost: Issued
  /** CN=other.test */
  readonly other: Issued
  /** CN=client.test, for client authentication */
  readonly client: Issued
  /** Issues another certificate (a fresh key) as `file`.pem and `file`.key in the directory. */
  readonly issue: (
    commonName: string,
    file: string,
    options?: IssueOptions
  ) => Effect.Effect<Issued, OpensslError | ProcessError>
}

const openssl = (dir: string, args: ReadonlyArray<string>) =>
  Effect.flatMap(runProcess("openssl", args, { env: { OPENSSL_CONF: Path.join(dir, "req.cnf") } }), (result) =>
    result.exitCode === 0
      ? Effect.void
      : Effect.fail(
          new OpensslError({ message: `openssl ${args.join(" ")} exited ${result.exitCode}: ${result.stderr}` })
        )
  )

// no dependence on the system's openssl.cnf: a minimal one of ours
const reqConfig = `[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
`

const extensions = (commonName: string, options: IssueOptions) => {
  const names = [
    ...(options.client === true ? [] : [`DNS:${commonName}`]),
    ...(options.dns ?? []).map((name) => `DNS:${name}`),
    ...(options.ip ?? []).map((ip) => `IP:${ip}`)
  ]
  return [
    "basicConstraints = critical,CA:FALSE",
    "keyUsage = critical,digitalSignature",
    `extendedKeyUsage = ${options.client === true ? "clientAuth" : "serverAuth"}`,
    "subjectKeyIdentifier = hash",
    ...(options.selfSigned === true ? [] : ["authorityKeyIdentifier = keyid"]),
    ...(names.length > 0 ? [`subjectAltName = ${names.join(",")}`] : [])
  ].join("\n")
}

const serial = () => `0x${Crypto.randomBytes(8).toString("hex")}`

export const make: Effect.Effect<TestCertificates, OpensslError | ProcessError, Scope.Scope> = Effect.gen(function* () {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-tls-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )
  const file = (name: string) => Path.join(dir, name)
  Fs.writeFileSync(file("req.cnf"), reqConfig)
  const caKey = file("ca.key")
  const caCert = file("ca.pem")
  yield* openssl(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", caKey])
  yield* openssl(dir, [
    "req",
    "-x509",
    "-new",
    "-key",
    caKey,
    "-subj",
    "/CN=effect-smtpd test CA",
    "-extensions",
    "ca",
    "-days",
    "3650",
    "-set_serial",
    serial(),
    "-out",
    caCert
  ])

  const issue = (commonName: string, name: string, options: IssueOptions = {}) =>
    Effect.gen(function* () {
      const keyFile = file(`${name}.key`)
      const certFile = file(`${name}.pem`)
      const csr = file(`${name}.csr`)
      const ext = file(`${name}.ext`)
      Fs.writeFileSync(ext, extensions(commonName, options))
      yield* openssl(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile])
      yield* openssl(dir, ["req", "-new", "-key", keyFile, "-subj", `/CN=${commonName}`, "-out", csr])
      const signer =
        options.selfSigned === true ? ["-key", keyFile] : ["-CA", caCert, "-CAkey", caKey, "-set_serial", serial()]
      yield* openssl(dir, ["x509", "-req", "-in", csr, ...signer, "-days", "825", "-extfile", ext, "-out", certFile])
      const cert = Fs.readFileSync(certFile, "utf8")
      return {
        certFile,
        keyFile,
        cert,
        key: Fs.readFileSync(keyFile, "utf8"),
        fingerprint256: new Crypto.X509Certificate(cert).fingerprint256
      }
    })

  const [localhost, other, client] = yield* Effect.all(
    [
      issue("localhost", "localhost", { ip: ["127.0.0.1", "::1"] }),
      issue("other.test", "other"),
      issue("client.test", "client", { client: true })
    ],
    { concurrency: "unbounded" }
  )
  return {
    dir,
    ca: { certFile: caCert, cert: Fs.readFileSync(caCert, "utf8") },
    localhost,
    other,
    client,
    issue
  }
})

/** The certificates as a service, for `layer(...)` in a test file: made once for all its tests. */
export class Certificates extends Context.Service<Certificates, TestCertificates>()("test/Certificates") {}

export const layer: Layer.Layer<Certificates, OpensslError | ProcessError> = Layer.effect(Certificates, make)
