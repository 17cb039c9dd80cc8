//! The connection's reader thread: reads frames, completes in-flight
//! requests, enforces request deadlines and the idle timeout.

use super::*;

/// How often the reader wakes while waiting, to enforce request deadlines
/// and the idle timeout.
pub(super) const TICK: Duration = Duration::from_millis(200);

pub(super) fn read_loop(mut stream: ReadTransport, shared: Arc<Shared>) {
    let label = shared.label.clone();
    let mut size_buf = [0u8; 4];
    loop {
        if shared.closed.load(Ordering::SeqCst) {
            return;
        }
        if !fill(&mut stream, &shared, &mut size_buf, true) {
            return;
        }
        let size = i32::from_be_bytes(size_buf);
        // A TLS record (alert 0x15 or handshake 0x16, version 3.x) where a
        // response size belongs: a TLS listener reached without TLS.
        if matches!(size_buf, [0x15 | 0x16, 0x03, 0..=0x04, _])
            && !shared.settings.security.protocol.uses_tls()
        {
            shared.fail(Error::Tls {
                broker: label.clone(),
                message: "the broker answered with a TLS record: this listener expects TLS; set security.protocol=SSL (or SASL_SSL) and the ssl.* settings".into(),
            });
            return;
        }
        // A legacy SASL token may be empty; every Kafka response has at least
        // its correlation id.
        let raw = shared
            .in_flight
            .lock()
            .unwrap()
            .front()
            .is_some_and(|p| p.response_header_version < 0);
        let min = if raw { 0 } else { 4 };
        if size < min || size as usize > shared.settings.max_response_size {
            shared.fail(Error::protocol(
                &label,
                format!(
                    "response size {size} is outside {min}..={} bytes (receive.message.max.bytes)",
                    shared.settings.max_response_size
                ),
            ));
            return;
        }
        if shared.in_flight.lock().unwrap().is_empty() {
            shared.fail(Error::protocol(
                &label,
                "received a response with no request in flight",
            ));
            return;
        }
        let mut body = vec![0u8; size as usize];
        if !fill(&mut stream, &shared, &mut body, false) {
            return;
        }
        *shared.last_activity.lock().unwrap() = Instant::now();
        let Some(pending) = shared.in_flight.lock().unwrap().pop_front() else {
            return;
        };
        shared.answered.fetch_add(1, Ordering::SeqCst);
        let body = Bytes::from(body);
        if pending.response_header_version < 0 {
            (pending.callback)(Ok(body));
            continue;
        }
        let mut r = Reader::new(body.clone());
        let header = match ResponseHeader::decode(&mut r, pending.response_header_version) {
            Ok(h) => h,
            Err(e) => {
                let err = Error::protocol(&label, format!("bad response header: {e}"));
                (pending.callback)(Err(err.clone()));
                shared.fail(err);
                return;
            }
        };
        if header.correlation_id != pending.correlation_id {
            let err = Error::protocol(
                &label,
                format!(
                    "response correlation id {} does not match the oldest request's {} (api key {})",
                    header.correlation_id, pending.correlation_id, pending.api_key
                ),
            );
            (pending.callback)(Err(err.clone()));
            shared.fail(err);
            return;
        }
        let pos = r.position();
        (pending.callback)(Ok(body.slice(pos..body.len())));
    }
}

/// [`read_full`] for the reader thread: false when it must stop (the
/// connection was closed by us, or has just failed with the read's error).
pub(super) fn fill(
    stream: &mut ReadTransport,
    shared: &Shared,
    buf: &mut [u8],
    at_frame_start: bool,
) -> bool {
    read_full(stream, shared, buf, at_frame_start).unwrap_or_else(|e| {
        shared.fail(e);
        false
    })
}

/// Fills `buf`, waking every [`TICK`] to check request deadlines and the
/// idle timeout. `Ok(false)` means the connection was closed by us.
pub(super) fn read_full(
    stream: &mut ReadTransport,
    shared: &Shared,
    buf: &mut [u8],
    at_frame_start: bool,
) -> Result<bool> {
    let io_err = |source| Error::Io {
        broker: shared.label.clone(),
        source,
    };
    let mut got = 0;
    while got < buf.len() {
        if shared.closed.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let _ = stream.set_read_timeout(Some(TICK));
        match stream.read(&mut buf[got..]) {
            Ok(0) => {
                if shared.closed.load(Ordering::SeqCst) {
                    return Ok(false);
                }
                // A SASL listener answers ApiVersions, then drops a client
                // that sends anything but SaslHandshake.
                let hint = if shared.answered.load(Ordering::SeqCst) == 1
                    && shared.settings.security.sasl.is_none()
                {
                    " right after ApiVersions: a SASL listener does this to clients that do not authenticate (set security.protocol=SASL_PLAINTEXT or SASL_SSL and sasl.mechanism), or the broker is stopping"
                } else {
                    ""
                };
                return Err(io_err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the broker closed the connection{hint}"),
                )));
            }
            Ok(n) => got += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                check_deadlines(shared, at_frame_start && got == 0)?;
            }
            Err(e) => {
                if shared.closed.load(Ordering::SeqCst) {
                    return Ok(false);
                }
                #[cfg(feature = "tls")]
                if let (Some(tls), Some(inner)) = (
                    &shared.settings.security.tls,
                    e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
                ) {
                    // TLS 1.3's refusal of our client certificate arrives as
                    // an alert after the handshake: fatal, as a handshake
                    // failure. Any other TLS error on an established
                    // connection drops it like a network error (retriable).
                    return Err(if crate::net::tls::is_certificate_refusal(inner) {
                        Error::Tls {
                            broker: shared.label.clone(),
                            message: tls.describe("", inner),
                        }
                    } else {
                        io_err(io::Error::other(format!("TLS: {inner}")))
                    });
                }
                return Err(io_err(e));
            }
        }
    }
    Ok(true)
}

pub(super) fn check_deadlines(shared: &Shared, idle_possible: bool) -> Result<()> {
    let now = Instant::now();
    let oldest = shared
        .in_flight
        .lock()
        .unwrap()
        .front()
        .map(|p| (p.deadline, p.api_key));
    match oldest {
        Some((deadline, api_key)) if now >= deadline => Err(Error::Timeout {
            what: format!(
                "request (api key {api_key}) to broker {} got no response (request.timeout.ms); the connection was closed",
                shared.label
            ),
            after: shared.settings.request_timeout,
        }),
        None if idle_possible && shared.held.lock().unwrap().is_empty() => {
            // A SASL session due for re-authentication on a connection no
            // writer uses: close it (the next request reconnects) rather than
            // let the broker drop it at expiry under a request.
            if matches!(*shared.reauth_at.lock().unwrap(), Some((_, close_at)) if now >= close_at) {
                return Err(Error::Io {
                    broker: shared.label.clone(),
                    source: io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "closed while idle because its SASL session lifetime (connections.max.reauth.ms on the broker) was nearly over",
                    ),
                });
            }
            if let Some(idle) = shared.settings.idle_timeout {
                if now.duration_since(*shared.last_activity.lock().unwrap()) >= idle {
                    return Err(Error::Io {
                        broker: shared.label.clone(),
                        source: io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "closed after being idle longer than connections.max.idle.ms",
                        ),
                    });
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
