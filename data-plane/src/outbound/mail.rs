//! Outgoing mail to app users: verification tokens, password-reset tokens, one-time codes.
//!
//! With `SMTP_URL` set, mail goes to that server over SMTP (lettre, rustls); without it, one
//! log line per mail stands in for delivery, with the secret redacted. Nothing here returns an
//! error to the app user's request: a failure is logged and `send` returns `false`.

use super::Egress;
use anyhow::{anyhow, bail, Context};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// How long one SMTP command (and the TCP connect to each address) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long delivering one mail may take in all.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// What a secret is replaced with in logs.
const REDACTED: &str = "[redacted]";

/// One mail to one app user.
#[derive(Clone)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The secret inside `body` (token or code), for redaction in logs.
    pub secret: String,
}

impl fmt::Debug for Mail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Sends mail over SMTP, or logs it when no SMTP server is configured.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    smtp: Option<Arc<Smtp>>,
    egress: Egress,
}

/// Where and how to deliver.
struct Smtp {
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<Credentials>,
    /// Kept to redact it from error texts.
    password: String,
}

/// Encryption of the SMTP connection.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tls {
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://…?tls=required`: STARTTLS or fail.
    Required,
    /// `smtp://` (default): STARTTLS when the server offers it.
    Opportunistic,
    /// `smtp://…?tls=none`: never encrypt.
    Off,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mailer");
        d.field("kind", &self.kind()).field("from", &self.from);
        if let Some(smtp) = &self.smtp {
            d.field("host", &smtp.host)
                .field("port", &smtp.port)
                .field("tls", &smtp.tls);
        }
        d.finish_non_exhaustive()
    }
}

impl Mailer {
    /// `smtp_url`: None (or blank) → log-only mailer. `smtp://user:pass@host:port` uses
    /// STARTTLS when the server offers it (`?tls=required` insists on it, `?tls=none` never
    /// encrypts); `smtps://user:pass@host:port` uses implicit TLS. User and password are
    /// percent-decoded; the default ports are 587 and 465. `from`: the sender (SMTP_FROM),
    /// `addr@host` or `Name <addr@host>`. A bad URL or sender is an error that never echoes the
    /// URL (it holds the password).
    pub fn new(smtp_url: Option<&str>, from: &str, egress: Egress) -> anyhow::Result<Self> {
        let from = from
            .parse::<Mailbox>()
            .map_err(|_| anyhow!("SMTP_FROM `{from}` is not a mail address"))?;
        let smtp = match smtp_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Some(Arc::new(Smtp::parse(url)?)),
            None => None,
        };
        Ok(Self { from, smtp, egress })
    }

    /// "smtp" or "log".
    pub fn kind(&self) -> &'static str {
        if self.smtp.is_some() {
            "smtp"
        } else {
            "log"
        }
    }

    /// Sends the mail over SMTP or, without SMTP, logs one info line: recipient, subject and
    /// body with the secret replaced by "[redacted]". Failures are logged (warn) with the secret
    /// and password redacted. Returns whether the SMTP server accepted the mail (always false
    /// for the log-only mailer). Never blocks the runtime; takes at most about 30 s.
    pub async fn send(&self, mail: Mail) -> bool {
        let Some(smtp) = &self.smtp else {
            info!(mail.kind = "log", "{}", log_line(&mail));
            return false;
        };
        let subject = redact(&mail.subject, &[&mail.secret]);
        match tokio::time::timeout(SEND_TIMEOUT, self.deliver(smtp, &mail)).await {
            Ok(Ok(())) => {
                info!(smtp.host = %smtp.host, mail.subject = %subject, "mail delivered to the SMTP server");
                true
            }
            Ok(Err(e)) => {
                let cause = redact(&format!("{e:#}"), &[&mail.secret, &smtp.password]);
                warn!(smtp.host = %smtp.host, mail.subject = %subject, "mail not delivered: {cause}");
                false
            }
            Err(_) => {
                warn!(smtp.host = %smtp.host, mail.subject = %subject, "mail not delivered: timed out after {SEND_TIMEOUT:?}");
                false
            }
        }
    }

    /// The plain-text message; lettre encodes the headers, so a subject cannot add one.
    fn message(&self, mail: &Mail) -> anyhow::Result<Message> {
        let to = mail
            .to
            .parse::<Mailbox>()
            .map_err(|_| anyhow!("the recipient is not a mail address"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.as_str())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .context("build the message")
    }

    async fn deliver(&self, smtp: &Smtp, mail: &Mail) -> anyhow::Result<()> {
        let message = self.message(mail)?;
        let addrs = self.egress.resolve(&smtp.host, smtp.port).await?;
        let hello = ClientId::default();
        let implicit = match smtp.tls {
            Tls::Implicit => Some(smtp.tls_parameters()?),
            _ => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            addrs.as_slice(),
            Some(COMMAND_TIMEOUT),
            &hello,
            implicit,
            None,
        )
        .await
        .with_context(|| format!("connect to {}:{}", smtp.host, smtp.port))?;
        let starttls = match smtp.tls {
            Tls::Required if !conn.can_starttls() => {
                bail!("the SMTP server does not offer STARTTLS")
            }
            Tls::Required | Tls::Opportunistic => conn.can_starttls(),
            Tls::Implicit | Tls::Off => false,
        };
        if starttls {
            conn.starttls(smtp.tls_parameters()?, &hello)
                .await
                .context("STARTTLS")?;
        }
        if let Some(credentials) = &smtp.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .context("authenticate")?;
        }
        conn.send(message.envelope(), &message.formatted())
            .await
            .context("send")?;
        let _ = conn.quit().await;
        Ok(())
    }
}

impl Smtp {
    fn parse(url: &str) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(url).map_err(|_| anyhow!("SMTP_URL is not a valid URL"))?;
        let (mut tls, default_port) = match url.scheme() {
            "smtp" => (Tls::Opportunistic, 587),
            "smtps" => (Tls::Implicit, 465),
            _ => bail!("SMTP_URL must start with smtp:// or smtps://"),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| anyhow!("SMTP_URL has no host"))?
            .to_owned();
        for (key, value) in url.query_pairs() {
            tls = match (key.as_ref(), value.as_ref(), tls) {
                ("tls", "required", Tls::Opportunistic) => Tls::Required,
                ("tls", "opportunistic", Tls::Opportunistic) => Tls::Opportunistic,
                ("tls", "none", Tls::Opportunistic) => Tls::Off,
                ("tls", _, _) => bail!(
                    "SMTP_URL: tls must be required, opportunistic or none, and only with smtp://"
                ),
                _ => bail!("SMTP_URL: unknown parameter `{key}`"),
            };
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| anyhow!("SMTP_URL: user and password must be UTF-8"))
        };
        let user = decode(url.username())?;
        let password = decode(url.password().unwrap_or(""))?;
        let credentials = (!user.is_empty()).then(|| Credentials::new(user, password.clone()));
        Ok(Self {
            host,
            port: url.port().unwrap_or(default_port),
            tls,
            credentials,
            password,
        })
    }

    /// TLS settings checking the server's certificate against the configured host name (the
    /// connection itself goes to the addresses the allow-list let through).
    fn tls_parameters(&self) -> anyhow::Result<TlsParameters> {
        let name = self.host.trim_start_matches('[').trim_end_matches(']');
        TlsParameters::new(name.to_owned()).context("set up TLS")
    }
}

/// `text` with each non-empty secret replaced by "[redacted]".
fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_owned(), |t, s| t.replace(s, REDACTED))
}

/// The log-only mailer's line: recipient, subject and body on one line, secret redacted.
fn log_line(mail: &Mail) -> String {
    let secret = [mail.secret.as_str()];
    format!(
        "mail not sent (no SMTP_URL): to {}, subject \"{}\": {}",
        redact(&mail.to, &secret).escape_debug(),
        redact(&mail.subject, &secret).escape_debug(),
        redact(&mail.body, &secret).escape_debug(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use std::sync::Mutex;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    /// What the fake SMTP server saw on one connection.
    #[derive(Debug, Default)]
    struct Session {
        commands: Vec<String>,
        data: String,
    }

    /// A minimal SMTP server on 127.0.0.1 serving one connection. It offers AUTH and answers
    /// the end of DATA with `data_reply`.
    async fn smtp_server(
        data_reply: &'static str,
    ) -> (u16, tokio::sync::oneshot::Receiver<Session>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (done, session) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read);
            let mut seen = Session::default();
            write.write_all(b"220 test ESMTP\r\n").await.unwrap();
            let mut line = String::new();
            while lines.read_line(&mut line).await.unwrap_or(0) > 0 {
                let command = line.trim_end().to_owned();
                line.clear();
                let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
                seen.commands.push(command);
                let reply: &str = match verb.as_str() {
                    "EHLO" => "250-test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
                    "AUTH" => "235 2.7.0 ok\r\n",
                    "MAIL" | "RCPT" | "RSET" | "NOOP" => "250 ok\r\n",
                    "DATA" => {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        let mut data = String::new();
                        while !data.ends_with("\r\n.\r\n") {
                            if lines.read_line(&mut data).await.unwrap() == 0 {
                                break;
                            }
                        }
                        seen.data = data;
                        data_reply
                    }
                    "QUIT" => {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    }
                    _ => "502 unknown\r\n",
                };
                write.write_all(reply.as_bytes()).await.unwrap();
            }
            let _ = done.send(seen);
        });
        (port, session)
    }

    fn mail(secret: &str) -> Mail {
        Mail {
            to: "ada@example.com".into(),
            subject: "Verify your email".into(),
            body: format!("Your verification token is {secret}\nIt expires in 24 hours."),
            secret: secret.into(),
        }
    }

    /// Collects what tracing writes while it is alive (this thread only).
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn start(&self) -> tracing::subscriber::DefaultGuard {
            let out = self.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || out.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .finish();
            tracing::subscriber::set_default(subscriber)
        }
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[tokio::test]
    async fn delivers_over_smtp() {
        let (port, session) = smtp_server("250 queued\r\n").await;
        let url = format!("smtp://mailer%40app:p%40ss@127.0.0.1:{port}");
        let egress = Egress::parse("loopback").unwrap();
        let mailer = Mailer::new(Some(&url), "Backendify <no-reply@example.com>", egress).unwrap();
        assert_eq!(mailer.kind(), "smtp");
        assert!(!format!("{mailer:?}").contains("p@ss"));

        assert!(mailer.send(mail("tok-123456")).await);
        let seen = session.await.unwrap();
        assert!(seen
            .commands
            .contains(&"MAIL FROM:<no-reply@example.com>".to_owned()));
        assert!(seen
            .commands
            .contains(&"RCPT TO:<ada@example.com>".to_owned()));
        let auth = seen
            .commands
            .iter()
            .find(|c| c.starts_with("AUTH PLAIN "))
            .unwrap();
        let plain = base64::engine::general_purpose::STANDARD
            .decode(auth.trim_start_matches("AUTH PLAIN "))
            .unwrap();
        assert_eq!(plain, b"\0mailer@app\0p@ss");
        assert!(
            seen.data.contains("To: ada@example.com\r\n"),
            "{}",
            seen.data
        );
        assert!(
            seen.data.contains("Subject: Verify your email\r\n"),
            "{}",
            seen.data
        );
        assert!(
            seen.data.contains("Your verification token is tok-123456"),
            "{}",
            seen.data
        );
    }

    #[tokio::test]
    async fn failure_is_logged_redacted() {
        let (port, _session) = smtp_server("554 rejected: tok-987654 looks like spam\r\n").await;
        let url = format!("smtp://user:hunter2@127.0.0.1:{port}?tls=none");
        let mailer = Mailer::new(
            Some(&url),
            "no-reply@example.com",
            Egress::parse("loopback").unwrap(),
        )
        .unwrap();
        let logs = Captured::default();
        let delivered = {
            let _guard = logs.start();
            mailer.send(mail("tok-987654")).await
        };
        assert!(!delivered);
        let text = logs.text();
        assert!(text.contains("WARN"), "{text}");
        assert!(
            text.contains("rejected: [redacted] looks like spam"),
            "{text}"
        );
        assert!(
            !text.contains("tok-987654") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn refuses_destination_outside_egress() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("smtp://127.0.0.1:{port}");
        let mailer = Mailer::new(
            Some(&url),
            "no-reply@example.com",
            Egress::parse("public").unwrap(),
        )
        .unwrap();
        let logs = Captured::default();
        let delivered = {
            let _guard = logs.start();
            mailer.send(mail("tok-111")).await
        };
        assert!(!delivered);
        assert!(
            logs.text().contains("outside EGRESS_ALLOW"),
            "{}",
            logs.text()
        );
        let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
        assert!(accepted.is_err(), "something connected");
    }

    #[tokio::test]
    async fn log_only_redacts_secret() {
        let mailer = Mailer::new(None, "no-reply@example.com", Egress::parse("").unwrap()).unwrap();
        assert_eq!(mailer.kind(), "log");
        let logs = Captured::default();
        let delivered = {
            let _guard = logs.start();
            mailer.send(mail("tok-424242")).await
        };
        assert!(!delivered);
        let text = logs.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("INFO"), "{text}");
        assert!(text.contains("to ada@example.com"), "{text}");
        assert!(text.contains("subject \"Verify your email\""), "{text}");
        assert!(
            text.contains("Your verification token is [redacted]\\nIt expires in 24 hours."),
            "{text}"
        );
        assert!(!text.contains("tok-424242"), "{text}");
    }

    #[test]
    fn redaction_is_pure() {
        assert_eq!(
            redact("code 123 and 123", &["123"]),
            "code [redacted] and [redacted]"
        );
        assert_eq!(redact("nothing", &["", "x"]), "nothing");
        let line = log_line(&Mail {
            to: "a@example.com".into(),
            subject: "Your code 999".into(),
            body: "Code: 999".into(),
            secret: "999".into(),
        });
        assert_eq!(
            line,
            "mail not sent (no SMTP_URL): to a@example.com, subject \"Your code [redacted]\": \
             Code: [redacted]"
        );
    }

    #[test]
    fn parses_urls() {
        let egress = Egress::parse("").unwrap();
        let smtp = |url: &str| {
            let mailer = Mailer::new(Some(url), "a@example.com", egress.clone()).unwrap();
            let smtp = mailer.smtp.clone().unwrap();
            (
                smtp.host.clone(),
                smtp.port,
                smtp.tls,
                smtp.credentials.is_some(),
            )
        };
        assert_eq!(
            smtp("smtp://mail.example.com"),
            ("mail.example.com".into(), 587, Tls::Opportunistic, false)
        );
        assert_eq!(
            smtp("smtps://u:p@mail.example.com"),
            ("mail.example.com".into(), 465, Tls::Implicit, true)
        );
        assert_eq!(
            smtp("smtp://u@[::1]:2525?tls=required"),
            ("[::1]".into(), 2525, Tls::Required, true)
        );
        assert_eq!(
            smtp("smtp://h:25?tls=none"),
            ("h".into(), 25, Tls::Off, false)
        );
        assert_eq!(
            Mailer::new(Some("  "), "a@example.com", egress.clone())
                .unwrap()
                .kind(),
            "log"
        );

        for bad in [
            "http://mail.example.com",
            "smtp://user:secretpw@",
            "smtps://h?tls=none",
            "smtp://h?tls=maybe",
            "smtp://h?foo=bar",
            "not a url secretpw",
        ] {
            let err = Mailer::new(Some(bad), "a@example.com", egress.clone()).unwrap_err();
            assert!(!format!("{err:#}").contains("secretpw"), "{bad}: {err:#}");
        }
        assert!(Mailer::new(None, "not an address", egress.clone()).is_err());
        assert!(Mailer::new(None, "Backendify <no-reply@localhost>", egress).is_ok());
    }

    #[test]
    fn headers_cannot_be_injected() {
        let mailer = Mailer::new(None, "a@example.com", Egress::parse("").unwrap()).unwrap();
        let hostile = Mail {
            subject: "Hi\r\nBcc: evil@example.com".into(),
            ..mail("x")
        };
        let text = String::from_utf8(mailer.message(&hostile).unwrap().formatted()).unwrap();
        assert!(!text.contains("\r\nBcc:"), "{text}");
        for to in [
            "ada@example.com\r\nBcc: evil@example.com",
            "ada@example.com, evil@example.com",
        ] {
            let hostile = Mail {
                to: to.into(),
                ..mail("x")
            };
            assert!(mailer.message(&hostile).is_err(), "{to}");
        }
    }

    #[test]
    fn send_is_send() {
        fn assert_send<T: Send>(_: T) {}
        let mailer = Mailer::new(None, "a@example.com", Egress::parse("").unwrap()).unwrap();
        assert_send(mailer.send(mail("x")));
    }
}
