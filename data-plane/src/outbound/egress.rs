//! The egress allow-list (`EGRESS_ALLOW`): which addresses outbound features may connect to.
//!
//! Every outbound connection (SMTP, OAuth, later webhooks) resolves its destination through
//! [`Egress::resolve`] and connects only to the addresses it returned, so a name that resolves
//! to an internal address cannot be used to reach the cell's own network.

use anyhow::Context;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long resolving one name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a destination was not reached.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// A resolved address is not allowed.
    #[error("destination {host} ({addr}) is outside EGRESS_ALLOW")]
    Refused {
        /// The host as given.
        host: String,
        /// The refused address.
        addr: IpAddr,
    },
    /// The name did not resolve.
    #[error("could not resolve {host}")]
    Resolve {
        /// The host as given.
        host: String,
        /// What the resolver said.
        #[source]
        source: std::io::Error,
    },
    /// The URL is not an http(s) URL with a host.
    #[error("not an http(s) URL with a host")]
    BadUrl,
}

/// Which destinations outbound features (SMTP, OAuth, later webhooks) may reach.
#[derive(Clone, Debug)]
pub struct Egress {
    rules: Arc<[Rule]>,
}

/// One `EGRESS_ALLOW` item.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rule {
    Public,
    Private,
    Loopback,
    Any,
    Net(Cidr),
}

/// An address block: the address has no bits set past `prefix`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Egress {
    /// Parses EGRESS_ALLOW: comma-separated items, each `public` (globally routable addresses),
    /// `private` (RFC 1918, unique-local fc00::/7, link-local, CGNAT 100.64/10), `loopback`
    /// (127/8, ::1), `any`, or a CIDR like `10.1.0.0/16` (a bare address is a /32 or /128).
    /// Unset/empty means `public`. Unknown items are an error naming the item.
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let mut rules = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let rule = match item.to_ascii_lowercase().as_str() {
                "public" => Rule::Public,
                "private" => Rule::Private,
                "loopback" => Rule::Loopback,
                "any" => Rule::Any,
                _ => Rule::Net(Cidr::parse(item).with_context(|| {
                    format!(
                        "unknown EGRESS_ALLOW item `{item}` (expected public, private, \
                         loopback, any or a CIDR like 10.1.0.0/16)"
                    )
                })?),
            };
            rules.push(rule);
        }
        if rules.is_empty() {
            rules.push(Rule::Public);
        }
        Ok(Self {
            rules: rules.into(),
        })
    }

    /// Whether `ip` may be connected to. Unspecified, broadcast and multicast addresses never are.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        if canonical.is_unspecified()
            || canonical.is_multicast()
            || canonical == IpAddr::V4(Ipv4Addr::BROADCAST)
        {
            return false;
        }
        self.rules.iter().any(|rule| match rule {
            Rule::Any => true,
            Rule::Public => is_public(canonical),
            Rule::Private => is_private(canonical),
            Rule::Loopback => canonical.is_loopback(),
            Rule::Net(net) => net.contains(ip) || net.contains(canonical),
        })
    }

    /// Resolves host:port and returns the addresses, or an error saying the destination is
    /// outside EGRESS_ALLOW (naming host and the refused address) when any resolved address is
    /// refused. IP literals (also in brackets) are checked without DNS.
    pub async fn resolve(&self, host: &str, port: u16) -> anyhow::Result<Vec<SocketAddr>> {
        Ok(self.resolve_checked(host, port).await?)
    }

    async fn resolve_checked(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let addrs = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => lookup(bare, port).await?,
        };
        if let Some(refused) = addrs.iter().find(|a| !self.allows(a.ip())) {
            return Err(EgressError::Refused {
                host: host.to_owned(),
                addr: refused.ip(),
            });
        }
        Ok(addrs)
    }

    /// A reqwest client whose every connection is checked: its DNS resolver applies
    /// [`Egress::resolve`]. reqwest skips the resolver for IP-literal URLs, so callers must call
    /// [`Egress::check_url`] before each request. Connect timeout 5 s, total 15 s, no redirects,
    /// no proxies.
    pub fn http_client(&self) -> reqwest::Client {
        self.http_client_with_timeout(Duration::from_secs(15))
    }

    /// [`Egress::http_client`] with another total time limit per request (the connect limit is
    /// 5 s, or `total` when shorter).
    pub fn http_client_with_timeout(&self, total: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver(self.clone())))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(total.min(Duration::from_secs(5)))
            .timeout(total)
            .user_agent("Backendify")
            .build()
            .expect("an HTTP client without custom TLS settings builds")
    }

    /// Checks that `url` is an http(s) URL whose host resolves only to allowed addresses.
    pub async fn check_url(&self, url: &str) -> anyhow::Result<()> {
        Ok(self.check(url).await?)
    }

    /// [`Egress::check_url`] with the typed error.
    pub(super) async fn check(&self, url: &str) -> Result<(), EgressError> {
        let url = reqwest::Url::parse(url).map_err(|_| EgressError::BadUrl)?;
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err(EgressError::BadUrl);
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EgressError::BadUrl);
        }
        self.resolve_checked(host, port).await?;
        Ok(())
    }
}

impl fmt::Display for Egress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rule) in self.rules.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match rule {
                Rule::Public => f.write_str("public")?,
                Rule::Private => f.write_str("private")?,
                Rule::Loopback => f.write_str("loopback")?,
                Rule::Any => f.write_str("any")?,
                Rule::Net(net) => write!(f, "{}/{}", net.addr, net.prefix)?,
            }
        }
        Ok(())
    }
}

async fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
    let failed = |source| EgressError::Resolve {
        host: host.to_owned(),
        source,
    };
    let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| failed(std::io::ErrorKind::TimedOut.into()))?
        .map_err(failed)?
        .collect::<Vec<_>>();
    if found.is_empty() {
        return Err(failed(std::io::ErrorKind::NotFound.into()));
    }
    Ok(found)
}

/// reqwest's resolver hook, applying the allow-list to every name it connects to.
struct CheckedResolver(Egress);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let egress = self.0.clone();
        Box::pin(async move {
            // Port 0 is replaced by the URL's port.
            let addrs = egress.resolve_checked(name.as_str(), 0).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Cidr {
    /// `a.b.c.d/n`, `x:y::z/n`, or a bare address. Bits past the prefix are cleared.
    fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr.parse::<IpAddr>().ok()?, Some(prefix)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= max)?
            }
            Some(_) => return None,
        };
        Some(Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

/// `ip` with every bit past `prefix` cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & bits))
        }
        IpAddr::V6(v6) => {
            let bits = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & bits))
        }
    }
}

fn in_net(ip: IpAddr, net: &str) -> bool {
    Cidr::parse(net).is_some_and(|n| n.contains(ip))
}

/// RFC 1918, CGNAT, link-local and unique-local addresses.
fn is_private(ip: IpAddr) -> bool {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    ]
    .iter()
    .any(|net| in_net(ip, net))
}

/// Globally routable: IPv6 only inside 2000::/3; neither range lists a special-purpose block
/// (private, loopback, documentation, benchmarking, reserved, transition relays).
fn is_public(ip: IpAddr) -> bool {
    const SPECIAL: &[&str] = &[
        "0.0.0.0/8",
        "127.0.0.0/8",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
    ];
    if is_private(ip) || SPECIAL.iter().any(|net| in_net(ip, net)) {
        return false;
    }
    match ip {
        IpAddr::V4(_) => true,
        IpAddr::V6(_) => in_net(ip, "2000::/3"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_items_and_cidrs() {
        let cases = [
            ("", "public"),
            ("  ", "public"),
            ("public", "public"),
            ("Private, loopback", "private,loopback"),
            ("any", "any"),
            ("10.1.0.0/16", "10.1.0.0/16"),
            ("10.1.2.3/16", "10.1.0.0/16"),
            ("10.1.2.3", "10.1.2.3/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("fd12:3456::/32", "fd12:3456::/32"),
            ("fd12:3456:789a::1/48", "fd12:3456:789a::/48"),
            ("::1", "::1/128"),
            ("::/0", "::/0"),
            ("public,192.168.7.0/24", "public,192.168.7.0/24"),
        ];
        for (spec, shown) in cases {
            let egress = Egress::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e:#}"));
            assert_eq!(egress.to_string(), shown, "{spec}");
        }
    }

    #[test]
    fn rejects_unknown_items_by_name() {
        for item in [
            "internet",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "fd00::/x",
            "example.com",
        ] {
            let err = Egress::parse(&format!("public,{item}")).unwrap_err();
            assert!(
                format!("{err:#}").contains(&format!("`{item}`")),
                "{item}: {err:#}"
            );
        }
    }

    #[test]
    fn classifies_addresses() {
        // (address, public, private, loopback)
        let cases = [
            ("8.8.8.8", true, false, false),
            ("1.1.1.1", true, false, false),
            ("2606:4700:4700::1111", true, false, false),
            ("10.0.0.1", false, true, false),
            ("172.16.0.1", false, true, false),
            ("172.31.255.255", false, true, false),
            ("172.32.0.1", true, false, false),
            ("192.168.1.1", false, true, false),
            ("100.64.0.1", false, true, false),
            ("100.127.255.255", false, true, false),
            ("100.128.0.1", true, false, false),
            ("169.254.169.254", false, true, false),
            ("fd00::1", false, true, false),
            ("fc00::1", false, true, false),
            ("fe80::1", false, true, false),
            ("127.0.0.1", false, false, true),
            ("127.8.9.10", false, false, true),
            ("::1", false, false, true),
            ("::ffff:127.0.0.1", false, false, true),
            ("::ffff:10.0.0.1", false, true, false),
            ("::ffff:8.8.8.8", true, false, false),
            ("192.0.2.1", false, false, false),
            ("198.18.0.1", false, false, false),
            ("240.0.0.1", false, false, false),
            ("2001:db8::1", false, false, false),
            ("2002:a00:1::1", false, false, false),
            ("64:ff9b::a00:1", false, false, false),
        ];
        let public = Egress::parse("public").unwrap();
        let private = Egress::parse("private").unwrap();
        let loopback = Egress::parse("loopback").unwrap();
        for (addr, is_pub, is_priv, is_loop) in cases {
            assert_eq!(public.allows(ip(addr)), is_pub, "public {addr}");
            assert_eq!(private.allows(ip(addr)), is_priv, "private {addr}");
            assert_eq!(loopback.allows(ip(addr)), is_loop, "loopback {addr}");
        }
    }

    #[test]
    fn never_allows_unspecified_multicast_or_broadcast() {
        let any = Egress::parse("any,0.0.0.0/0,::/0").unwrap();
        assert!(any.allows(ip("10.0.0.1")));
        assert!(any.allows(ip("2001:db8::1")));
        for addr in [
            "0.0.0.0",
            "::",
            "::ffff:0.0.0.0",
            "224.0.0.1",
            "239.1.2.3",
            "ff02::1",
            "255.255.255.255",
        ] {
            assert!(!any.allows(ip(addr)), "{addr}");
        }
    }

    #[test]
    fn cidr_items_match_their_block() {
        let egress = Egress::parse("10.1.0.0/16,fd00:1::/32").unwrap();
        assert!(egress.allows(ip("10.1.255.3")));
        assert!(egress.allows(ip("::ffff:10.1.0.1")));
        assert!(!egress.allows(ip("10.2.0.1")));
        assert!(egress.allows(ip("fd00:1:ffff::9")));
        assert!(!egress.allows(ip("fd00:2::1")));
        assert!(!egress.allows(ip("8.8.8.8")));
        let everything = Egress::parse("0.0.0.0/0").unwrap();
        assert!(everything.allows(ip("127.0.0.1")));
        assert!(!everything.allows(ip("::1")));
    }

    #[tokio::test]
    async fn resolve_checks_literals_and_names() {
        let public = Egress::parse("public").unwrap();
        let err = public.resolve("127.0.0.1", 25).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "destination 127.0.0.1 (127.0.0.1) is outside EGRESS_ALLOW"
        );
        let err = public.resolve("[::1]", 25).await.unwrap_err();
        assert!(err.to_string().contains("(::1)"), "{err}");
        let err = public.resolve("localhost", 25).await.unwrap_err();
        assert!(
            err.to_string().starts_with("destination localhost ("),
            "{err}"
        );

        let loopback = Egress::parse("loopback").unwrap();
        let addrs = loopback.resolve("localhost", 2525).await.unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 2525));
        assert_eq!(
            loopback.resolve("[::1]", 80).await.unwrap(),
            vec!["[::1]:80".parse().unwrap()]
        );
    }

    #[tokio::test]
    async fn check_url_checks_scheme_and_host() {
        let public = Egress::parse("public").unwrap();
        assert!(public.check_url("http://127.0.0.1:9/x").await.is_err());
        assert!(public.check_url("http://[::1]/").await.is_err());
        assert!(public.check_url("https://localhost/").await.is_err());
        assert!(public.check_url("ftp://8.8.8.8/").await.is_err());
        assert!(public.check_url("not a url").await.is_err());
        assert!(public.check_url("http://8.8.8.8/").await.is_ok());
        let loopback = Egress::parse("loopback").unwrap();
        assert!(loopback.check_url("http://127.0.0.1:9/x").await.is_ok());
    }

    /// A server on 127.0.0.1 answering every connection with `200 ok`; returns its port and a
    /// counter of accepted connections.
    async fn http_server() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        (port, accepted)
    }

    #[tokio::test]
    async fn http_client_resolver_refuses_names_outside_the_list() {
        let (port, accepted) = http_server().await;
        let url = format!("http://localhost:{port}/");

        let public = Egress::parse("public").unwrap();
        let err = public.http_client().get(&url).send().await.unwrap_err();
        let chain = format!("{:?}", anyhow::Error::from(err));
        assert!(chain.contains("outside EGRESS_ALLOW"), "{chain}");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);

        let loopback = Egress::parse("loopback").unwrap();
        loopback.check_url(&url).await.unwrap();
        let body = loopback
            .http_client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "ok");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
