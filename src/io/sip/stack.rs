//! The SIP stack of `voxline serve`: one rsipstack endpoint on `sip.listen` (UDP and
//! TCP) that answers inbound calls ([`super::uas`]) and dials out through the
//! configured trunks ([`super::uac`]), and what their calls share.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::Header;
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::TransportLayer;
use rsipstack::EndpointBuilder;

use super::uac::TrunkGate;
use crate::io::rtp::ports::PortPool;
use crate::io::rtp::session::RtpConfig;
use crate::io::serve::{ServeError, Shared};
use crate::server::config::parse_duration;

/// What every SIP call shares.
pub struct Sip {
    pub(super) layer: Arc<DialogLayer>,
    pub(super) ports: Arc<PortPool>,
    /// The address in our SDP and Contact, and the SIP port.
    pub(super) public_ip: IpAddr,
    pub(super) port: u16,
    /// Where RTP sockets bind.
    pub(super) media_ip: IpAddr,
    pub(super) rtp: RtpConfig,
    pub(super) answer_after: Duration,
    /// The `[[trunk]]`s by name, with their limits.
    pub(super) trunks: BTreeMap<String, Arc<TrunkGate>>,
}

impl Sip {
    /// Calls the trunk `name` can take now (0 for an unknown trunk).
    pub fn trunk_room(&self, name: &str, unlimited: usize) -> usize {
        self.trunks.get(name).map_or(0, |gate| gate.room(unlimited))
    }
}

/// Starts the SIP stack when `sip.listen` is set; returns the bound address and the
/// stack (for dialling out).
pub async fn start(shared: Arc<Shared>) -> Result<Option<(SocketAddr, Arc<Sip>)>, ServeError> {
    let cfg = &shared.cfg.sip;
    if cfg.listen.is_empty() {
        return Ok(None);
    }
    let listen: SocketAddr = cfg.listen.parse().expect("validated");
    let listen_err = |e: String| ServeError::Listen { addr: cfg.listen.clone(), source: std::io::Error::other(e) };
    let token = rsipstack::platform::CancellationToken::new();
    let transports = TransportLayer::new(token.clone());
    let udp = UdpConnection::create_connection(listen, None, Some(token.child_token()))
        .await
        .map_err(|e| listen_err(e.to_string()))?;
    let bound = udp.get_addr().get_socketaddr().map_err(|e| listen_err(e.to_string()))?;
    // TCP on the same port: bound here first so a taken port fails at start.
    std::net::TcpListener::bind(bound).map_err(|e| listen_err(format!("TCP: {e}")))?;
    let tcp = TcpListenerConnection::new(bound, None).await.map_err(|e| listen_err(e.to_string()))?;
    transports.add_transport(udp.into());
    transports.add_transport(tcp.into());
    let option = rsipstack::transaction::endpoint::EndpointOption {
        callid_suffix: Some("voxline".into()),
        ..Default::default()
    };
    let endpoint = EndpointBuilder::new()
        .with_user_agent(concat!("voxline/", env!("CARGO_PKG_VERSION")))
        .with_cancel_token(token)
        .with_transport_layer(transports)
        .with_option(option)
        .build();
    let incoming = endpoint.incoming_transactions().map_err(|e| listen_err(e.to_string()))?;
    let layer = Arc::new(DialogLayer::new(endpoint.inner.clone()));
    let public_ip = match cfg.public_ip.as_str() {
        "" => bound.ip(),
        ip => ip.parse().expect("validated"),
    };
    let sip = Arc::new(Sip {
        ports: PortPool::parse(&cfg.rtp_ports).expect("validated"),
        rtp: RtpConfig {
            timeout: parse_duration(&cfg.rtp_timeout).expect("validated"),
            report_every: Duration::from_secs(5),
            cname: format!("voxline@{public_ip}"),
        },
        answer_after: parse_duration(&cfg.answer_after).expect("validated"),
        public_ip,
        port: bound.port(),
        media_ip: bound.ip(),
        layer,
        trunks: shared.cfg.trunk.iter().map(|t| (t.name.clone(), Arc::new(TrunkGate::new(t.clone())))).collect(),
    });
    tokio::spawn(async move { endpoint.serve().await });
    tokio::spawn(super::uas::serve_incoming(sip.clone(), shared, incoming));
    Ok(Some((bound, sip)))
}

impl Sip {
    /// `sip:voxline@PUBLIC_IP:PORT`, with `;transport=tcp` for a TCP leg.
    pub(super) fn contact(&self, tcp: bool) -> Option<rsipstack::sip::Uri> {
        let uri = format!("sip:voxline@{}:{}{}", self.host(), self.port, if tcp { ";transport=tcp" } else { "" });
        rsipstack::sip::Uri::try_from(uri.as_str()).ok()
    }

    /// Our address as a SIP host (IPv6 in brackets).
    pub(super) fn host(&self) -> String {
        match self.public_ip {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        }
    }
}

/// `Warning: 399 voxline "why"` (RFC 3261 section 20.43), for a refusal's reason.
pub(super) fn warning(reason: &str) -> Header {
    let text: String = reason.chars().filter(|c| *c != '"' && !c.is_control()).take(200).collect();
    Header::Other("Warning".into(), format!("399 voxline \"{text}\""))
}
