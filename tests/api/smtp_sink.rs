//! A real SMTP server for the tests (and the delivery bench): it listens on a free local
//! port, speaks enough SMTP for lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and keeps
//! every message it accepts. Recipients whose address starts with `bounce` are refused with
//! 550, as by a server that has no such mailbox; those starting with `busy` are put off with
//! 451 at every other try (the first included), as by a server that greylists.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One accepted message.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// The envelope sender.
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-unstuffed, CRLF line ends.
    pub data: String,
}

impl ReceivedMail {
    /// The value of the first header `name` (unfolded), if any.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line.trim_start());
                    continue;
                }
                break;
            }
            if let Some((n, v)) = line.split_once(':')
                && n.eq_ignore_ascii_case(name)
            {
                value = Some(v.trim().to_owned());
            }
        }
        value
    }
}

/// The running server and what it received.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    pub received: Arc<Mutex<Vec<ReceivedMail>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("an address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let tries: Tries = Arc::default();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                // Replies are small writes: do not let Nagle hold them back.
                let _ = socket.set_nodelay(true);
                tokio::spawn(session(socket, store.clone(), tries.clone()));
            }
        });
        Self { port, received }
    }

    /// `smtp://127.0.0.1:<port>` (plain SMTP, as to a local relay).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.received.lock().expect("not poisoned").clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().expect("not poisoned").len()
    }
}

/// Acknowledges what arrived at once. lettre writes a message's body and its final `.` in
/// two writes without TCP_NODELAY, so with the usual delayed ACK every message would wait
/// about 40 ms for it (see README, "Benchmarks").
fn ack_now(socket: &tokio::net::TcpStream) {
    #[cfg(target_os = "linux")]
    let _ = socket2::SockRef::from(socket).set_tcp_quickack(true);
}

/// How many times each `busy` address was tried.
type Tries = Arc<Mutex<std::collections::HashMap<String, u32>>>;

async fn session(
    socket: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<ReceivedMail>>>,
    tries: Tries,
) {
    let mut lines = BufReader::new(socket);
    let reply = async |lines: &mut BufReader<tokio::net::TcpStream>, text: &str| {
        let written = lines.get_mut().write_all(text.as_bytes()).await.is_ok();
        // Sending makes the kernel delay ACKs again ("ping-pong" mode).
        ack_now(lines.get_ref());
        written
    };
    if !reply(&mut lines, "220 sink ESMTP\r\n").await {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        ack_now(lines.get_ref());
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            "250-sink\r\n250 8BITMIME\r\n".to_owned()
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().to_owned();
            to.clear();
            "250 OK\r\n".to_owned()
        } else if upper.starts_with("RCPT TO:<BOUNCE") {
            // Addresses starting with `bounce` do not exist here.
            "550 5.1.1 no such user\r\n".to_owned()
        } else if upper.starts_with("RCPT TO:<BUSY") {
            let mut tries = tries.lock().expect("not poisoned");
            let count = tries.entry(upper.clone()).or_default();
            *count += 1;
            if *count % 2 == 1 {
                "451 4.7.1 greylisted, try again later\r\n".to_owned()
            } else {
                to.push(command[8..].trim().to_owned());
                "250 OK\r\n".to_owned()
            }
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().to_owned());
            "250 OK\r\n".to_owned()
        } else if upper == "DATA" {
            if !reply(&mut lines, "354 go ahead\r\n").await {
                return;
            }
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                ack_now(lines.get_ref());
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(unstuffed);
            }
            store.lock().expect("not poisoned").push(ReceivedMail {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            "250 OK queued\r\n".to_owned()
        } else if upper == "RSET" || upper == "NOOP" {
            "250 OK\r\n".to_owned()
        } else if upper == "QUIT" {
            let _ = reply(&mut lines, "221 bye\r\n").await;
            return;
        } else {
            "502 not implemented\r\n".to_owned()
        };
        if !reply(&mut lines, &answer).await {
            return;
        }
    }
}
