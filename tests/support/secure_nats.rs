//! Secured nats-servers owned by one test: a config file written by the
//! test (users, tokens, nkeys, TLS) on free ports, and certificates minted
//! with `openssl` at test time, so no key is ever committed.

use crate::free_port;
use crate::nats_server::{nats_server_bin, wait_healthy};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A certificate authority and the certificates it signed, as PEM files in
/// a temp dir: `ca.pem`, `server.pem`/`server-key.pem` (valid for
/// 127.0.0.1 and localhost), `client.pem`/`client-key.pem`, and `other-ca.pem`,
/// a second CA that signed nothing of ours (a wrong `nats.tls.ca_file`).
pub struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    /// Mints the CA, the server and client certificates, and the other CA.
    pub fn generate() -> Self {
        let certs = Self {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        certs.ca("ca", "hookline test CA");
        certs.ca("other-ca", "unrelated CA");
        certs.leaf(
            "server",
            "serverAuth",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        );
        certs.leaf("client", "clientAuth", "subjectAltName=DNS:hookline-client");
        certs
    }

    /// The path of one file, e.g. `ca.pem`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl runs (is it installed?)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ca(&self, name: &str, cn: &str) {
        let (key, cert) = (format!("{name}-key.pem"), format!("{name}.pem"));
        self.new_key(
            &["-x509"],
            &key,
            &cert,
            &format!("/CN={cn}"),
            &[
                "-days",
                "2",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }

    /// `openssl req` making a P-256 key at `key` and, at `out`, what `mode`
    /// asks for (a self-signed certificate with `-x509`, else a CSR).
    fn new_key(&self, mode: &[&str], key: &str, out: &str, subj: &str, extra: &[&str]) {
        let mut args = vec!["req"];
        args.extend_from_slice(mode);
        args.extend_from_slice(&[
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            key,
            "-out",
            out,
            "-subj",
            subj,
        ]);
        args.extend_from_slice(extra);
        self.openssl(&args);
    }

    fn leaf(&self, name: &str, usage: &str, san: &str) {
        let ext = format!("{name}.ext");
        std::fs::write(
            self.path(&ext),
            format!(
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n\
                 extendedKeyUsage={usage}\n{san}\n"
            ),
        )
        .expect("write ext file");
        let (key, csr, cert) = (
            format!("{name}-key.pem"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        self.new_key(&[], &key, &csr, &format!("/CN=hookline-{name}"), &[]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }

    /// A `tls { … }` block for a server config; `verify` demands client
    /// certificates signed by the CA.
    pub fn server_tls_block(&self, verify: bool) -> String {
        format!(
            "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n  ca_file: {:?}\n  verify: {verify}\n  timeout: 5\n}}\n",
            self.path("server.pem"),
            self.path("server-key.pem"),
            self.path("ca.pem"),
        )
    }
}

/// One nats-server started from a config the test wrote: the test gives
/// the body (authorization, accounts, tls); the ports, monitoring and, when
/// asked, JetStream with a fresh store are added here.
pub struct SecureNats {
    port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl SecureNats {
    /// Starts the server and waits until its monitor says it is healthy.
    pub async fn start(body: &str, jetstream: bool) -> Self {
        Self::start_with_env(body, jetstream, &[]).await
    }

    /// Like [`SecureNats::start`], with variables the config refers to
    /// (`$NAME`) in the server's environment.
    pub async fn start_with_env(body: &str, jetstream: bool, env: &[(String, String)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (port, monitor) = (free_port(), free_port());
        let store = dir.path().join("store");
        let js = if jetstream {
            format!("jetstream {{ store_dir: {store:?} }}\n")
        } else {
            String::new()
        };
        let conf =
            format!("listen: \"127.0.0.1:{port}\"\nhttp: \"127.0.0.1:{monitor}\"\n{js}{body}\n");
        let conf_path = dir.path().join("nats.conf");
        std::fs::write(&conf_path, conf).expect("write config");
        let log_path = dir.path().join("nats-server.log");
        let log = File::create(&log_path).expect("log file");
        let mut child = Command::new(nats_server_bin())
            .arg("-c")
            .arg(&conf_path)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("nats-server starts (is it installed?)");
        wait_healthy(&mut child, monitor, &log_path).await;
        Self { port, dir, child }
    }

    /// `<scheme>://127.0.0.1:<port>`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Writes a file next to the server's config (nkey seeds, creds) and
    /// returns its path.
    pub fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats-server.log")).unwrap_or_default()
    }
}

impl Drop for SecureNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
