//! A real SMTP server for tests: speaks enough RFC 5321 for lettre (EHLO,
//! AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and keeps every message
//! it accepted (and every login, accepting any).
//!
//! Like any SMTP server, it has accepted a message only once it has
//! answered `250` to the end of `DATA`. With [`SmtpSink::stall_first`] it
//! never answers the first message: the client hangs mid-send, and if the
//! client dies the message is discarded, as a real server would.

use base64::Engine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One accepted message.
#[derive(Clone, Debug)]
pub struct Mail {
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message as sent (headers and body, dot-unstuffed).
    pub data: String,
}

impl Mail {
    /// The value of header `name` (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.data
            .lines()
            .take_while(|l| !l.is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    }
}

/// The running sink.
#[derive(Clone)]
pub struct SmtpSink {
    /// `127.0.0.1:<port>`.
    pub addr: std::net::SocketAddr,
    accepted: Arc<Mutex<Vec<Mail>>>,
    stall: Arc<AtomicBool>,
    /// The `Message-ID` of the stalled message, once a client is stuck on it.
    stalled: Arc<Mutex<Option<String>>>,
    /// Whether the stalled client has gone away (the message was discarded).
    dropped: Arc<AtomicBool>,
    /// `(user, password)` of every `AUTH PLAIN` (any login is accepted).
    logins: Arc<Mutex<Vec<(String, String)>>>,
}

impl SmtpSink {
    /// Listens on `port` (0: any).
    pub async fn start(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind SMTP sink");
        let sink = Self {
            addr: listener.local_addr().expect("address"),
            accepted: Arc::default(),
            stall: Arc::default(),
            stalled: Arc::default(),
            dropped: Arc::default(),
            logins: Arc::default(),
        };
        let server = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = server.clone();
                tokio::spawn(async move {
                    let _ = s.session(stream).await;
                });
            }
        });
        sink
    }

    /// Never answers the end of the next message's `DATA`.
    pub fn stall_first(&self) {
        self.stall.store(true, Ordering::SeqCst);
    }

    /// The messages accepted so far.
    pub fn accepted(&self) -> Vec<Mail> {
        self.accepted.lock().expect("not poisoned").clone()
    }

    /// The `Message-ID` a client is (or was) stuck on.
    pub fn stalled(&self) -> Option<String> {
        self.stalled.lock().expect("not poisoned").clone()
    }

    /// The logins clients authenticated with.
    pub fn logins(&self) -> Vec<(String, String)> {
        self.logins.lock().expect("not poisoned").clone()
    }

    /// Whether the stuck client's connection has closed.
    pub fn stalled_client_gone(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Records the `(user, password)` of a base64 `AUTH PLAIN` response.
    fn record_login(&self, encoded: &str) {
        let plain = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_default();
        let parts: Vec<String> = plain
            .split(|b| *b == 0)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        if let [_, user, password] = parts.as_slice() {
            let login = (user.clone(), password.clone());
            self.logins.lock().expect("not poisoned").push(login);
        }
    }

    async fn session(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        write.write_all(b"220 sink ESMTP\r\n").await?;
        let mut to = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" => b"250-sink\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n",
                "AUTH" => {
                    let inline = line.split_whitespace().nth(2).map(str::to_string);
                    let encoded = match inline {
                        Some(b64) => b64,
                        None => {
                            write.write_all(b"334 \r\n").await?;
                            let mut next = String::new();
                            lines.read_line(&mut next).await?;
                            next.trim().to_string()
                        }
                    };
                    self.record_login(&encoded);
                    b"235 authenticated\r\n"
                }
                "HELO" | "NOOP" => b"250 ok\r\n",
                "MAIL" => {
                    to.clear();
                    b"250 ok\r\n"
                }
                "RCPT" => {
                    to.push(line[8.min(line.len())..].trim().to_string());
                    b"250 ok\r\n"
                }
                "RSET" => {
                    to.clear();
                    b"250 ok\r\n"
                }
                "QUIT" => {
                    write.write_all(b"221 bye\r\n").await?;
                    return Ok(());
                }
                "DATA" => {
                    write.write_all(b"354 go ahead\r\n").await?;
                    let data = read_data(&mut lines).await?;
                    let mail = Mail {
                        to: std::mem::take(&mut to),
                        data,
                    };
                    if self.stall.swap(false, Ordering::SeqCst) {
                        *self.stalled.lock().expect("not poisoned") = mail.header("Message-ID");
                        // Hold the reply until the client goes away.
                        let mut rest = String::new();
                        while lines.read_line(&mut rest).await.unwrap_or(0) > 0 {}
                        self.dropped.store(true, Ordering::SeqCst);
                        return Ok(());
                    }
                    self.accepted.lock().expect("not poisoned").push(mail);
                    b"250 queued\r\n"
                }
                _ => b"502 not implemented\r\n",
            };
            write.write_all(reply).await?;
        }
    }
}

async fn read_data<R: AsyncBufReadExt + Unpin>(lines: &mut R) -> std::io::Result<String> {
    let mut data = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == ".\r\n" || line == ".\n" {
            return Ok(data);
        }
        let unstuffed = line.strip_prefix('.').unwrap_or(&line);
        data.push_str(unstuffed);
    }
}
