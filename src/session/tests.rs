//! The relay's contract with the pipeline, over real loopback sockets: a step that is
//! not ready stops the relay reading from its side, so the sender is held back by TCP
//! while the other direction keeps flowing, and nothing it sent is lost.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::task::AtomicWaker;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use super::relay::{relay, Established};
use super::{CloseReason, SessionLimits};
use crate::frame::{FrameReader, FrameWriter};
use crate::lifecycle::PhaseView;
use crate::noise::{Backend, RecvCipher, Sink, TransportState};
use crate::pipeline::{Pipeline, Step, Verdict};
use crate::stanza::{Element, Encoding, Limits, Opaque, SessionCodecs, Stanza, StanzaCodec};

const MAX_FRAME: usize = 1 << 20;
const T: Duration = Duration::from_secs(10);

/// A step that holds the chain until it is opened.
#[derive(Clone, Default)]
struct Gate(Arc<GateState>);

#[derive(Default)]
struct GateState {
    open: AtomicBool,
    waker: AtomicWaker,
}

impl Gate {
    fn open(&self) {
        self.0.open.store(true, Ordering::Release);
        self.0.waker.wake();
    }
}

impl Step for Gate {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.waker.register(cx.waker());
        if self.0.open.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn handle(&mut self, stanza: Stanza) -> Verdict {
        Verdict::Pass(stanza)
    }
}

/// What a peer reads from its leg.
struct Receiver {
    reader: FrameReader,
    recv: RecvCipher,
    codec: Arc<dyn StanzaCodec>,
}

impl Receiver {
    async fn recv(&mut self) -> Option<Stanza> {
        let mut frame = self.reader.next_frame().await.ok()??;
        let len = self.recv.decrypt_in_place(&mut frame).ok()?;
        frame.truncate(len);
        self.codec.decode(Bytes::from(frame)).ok()
    }
}

/// Two connected loopback sockets.
async fn socket_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (a, b) = tokio::join!(
        TcpStream::connect(listener.local_addr().unwrap()),
        listener.accept()
    );
    (a.unwrap(), b.unwrap().0)
}

/// Transport states for both ends of a leg, as a finished handshake leaves them.
fn transports(seed: u8) -> (TransportState, TransportState) {
    let k = |b: u8| Zeroizing::new([b; 32]);
    (
        TransportState::new(Backend::default(), k(seed), k(seed + 1)).unwrap(),
        TransportState::new(Backend::default(), k(seed + 1), k(seed)).unwrap(),
    )
}

/// The proxy's end of one leg.
type ProxyEnd = (FrameReader, RecvCipher, Mutex<Sink>);

/// One leg: the proxy's end, and the peer's writer and reader.
async fn leg(
    seed: u8,
    proxy_writes: Arc<dyn StanzaCodec>,
    peer_writes: Arc<dyn StanzaCodec>,
) -> (ProxyEnd, Sink, Receiver) {
    let (peer_socket, proxy_socket) = socket_pair().await;
    let (proxy_keys, peer_keys) = transports(seed);
    let (read, write) = proxy_socket.into_split();
    let proxy = (
        FrameReader::new(read, MAX_FRAME),
        proxy_keys.recv,
        Mutex::new(Sink::new(
            FrameWriter::new(write),
            proxy_keys.send,
            proxy_writes.clone(),
        )),
    );
    let (read, write) = peer_socket.into_split();
    let sink = Sink::new(FrameWriter::new(write), peer_keys.send, peer_writes);
    let receiver = Receiver {
        reader: FrameReader::new(read, MAX_FRAME),
        recv: peer_keys.recv,
        codec: proxy_writes,
    };
    (proxy, sink, receiver)
}

fn stanza(name: &str, id: &str) -> Stanza {
    Stanza::from_element(Element::new(name).with_attr("id", id))
}

#[tokio::test]
async fn a_pending_step_stops_reads_from_its_side_while_the_other_direction_flows() {
    let codecs = SessionCodecs::new(Encoding::Xml, 6, 3, Limits::default()).unwrap();
    let ((client_reader, client_recv, client_sink), mut client, mut client_rx) =
        leg(1, codecs.to_client.clone(), codecs.to_server.clone()).await;
    let ((upstream_reader, upstream_recv, upstream_sink), mut server, mut server_rx) =
        leg(3, codecs.to_server.clone(), codecs.to_client.clone()).await;
    let gate = Gate::default();
    let mut session = Established {
        client_reader,
        client_recv,
        client_sink,
        upstream_reader,
        upstream_recv,
        upstream_sink,
        codecs,
        to_server: Pipeline::new([Some(Box::new(gate.clone()) as Box<dyn Step>)]),
        to_client: Pipeline::new([]),
    };
    let limits = SessionLimits {
        max_frame_bytes: MAX_FRAME,
        handshake_timeout: T,
        idle_timeout: Duration::from_secs(60),
    };
    let relayed =
        tokio::spawn(
            async move { relay(&limits, &mut session, &PhaseView::never_draining()).await },
        );

    // The client sends far more than the sockets' buffers hold; a counter shows how far
    // it got. Its writes stall because the proxy reads none of it.
    const TOTAL: usize = 1_000;
    let written = Arc::new(AtomicUsize::new(0));
    let sender = tokio::spawn({
        let written = written.clone();
        async move {
            let big = Opaque::from_bytes(vec![b'A'; 60_000]);
            for n in 0..TOTAL {
                let message = Stanza::from_element(
                    Element::new("message")
                        .with_attr("id", &n.to_string())
                        .with_child(Element::new("enc").with_opaque(big.clone())),
                );
                client.send(&message).await.unwrap();
                written.store(n + 1, Ordering::Release);
            }
            client
        }
    });
    let mut last = usize::MAX;
    while written.load(Ordering::Acquire) != last {
        last = written.load(Ordering::Acquire);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(last < TOTAL, "the client's writes never stalled");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), server_rx.recv())
            .await
            .is_err(),
        "a stanza reached the server through a pending step"
    );

    // The other direction is not held: the server's stanzas reach the client.
    for id in ["s1", "s2"] {
        server.send(&stanza("iq", id)).await.unwrap();
        let got = tokio::time::timeout(T, client_rx.recv()).await.unwrap();
        assert_eq!(got.unwrap().attr("id").as_deref(), Some(id));
    }
    assert_eq!(written.load(Ordering::Acquire), last, "the client moved on");

    // Once the step is ready, everything the client sent arrives, in order.
    gate.open();
    let receive = async {
        for n in 0..TOTAL {
            let got = server_rx.recv().await.expect("a stanza");
            assert_eq!(got.attr("id").as_deref(), Some(n.to_string().as_str()));
        }
    };
    tokio::time::timeout(Duration::from_secs(60), receive)
        .await
        .expect("every stanza arrives");
    let client = tokio::time::timeout(T, sender).await.unwrap().unwrap();

    drop(client);
    drop(client_rx);
    let outcome = tokio::time::timeout(T, relayed).await.unwrap().unwrap();
    assert_eq!(outcome.reason, CloseReason::ClientClosed);
}

/// The relay's flush writes without waiting while the socket has room; once it is full,
/// what the socket did not take stays queued, whole, for the waiting flush.
#[tokio::test]
async fn a_flush_the_socket_cannot_take_now_keeps_the_rest_for_later() {
    let codecs = SessionCodecs::new(Encoding::Xml, 6, 3, Limits::default()).unwrap();
    let ((_reader, _recv, sink), _peer, mut peer_rx) =
        leg(5, codecs.to_client.clone(), codecs.to_server.clone()).await;
    let mut sink = sink.into_inner();
    let mut sent = 0usize;
    // The peer reads nothing, so the kernel's buffers fill.
    loop {
        for _ in 0..64 {
            sink.queue(&stanza("message", &sent.to_string())).unwrap();
            sent += 1;
        }
        if !sink.try_flush().unwrap() {
            break;
        }
        assert_eq!(sink.pending_len(), 0, "written in full");
        assert!(sent < 10_000_000, "the socket never filled");
    }
    assert!(sink.pending_len() > 0);
    let (flushed, received) = tokio::join!(sink.flush(), async {
        let mut ids = Vec::new();
        while ids.len() < sent {
            ids.push(
                peer_rx
                    .recv()
                    .await
                    .expect("a stanza")
                    .attr("id")
                    .unwrap()
                    .to_string(),
            );
        }
        ids
    });
    flushed.unwrap();
    let expected: Vec<String> = (0..sent).map(|i| i.to_string()).collect();
    assert_eq!(received, expected, "every stanza, once, in order");
}
