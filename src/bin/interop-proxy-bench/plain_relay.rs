//! The plain TCP relay peer: bytes copied both ways with `copy_bidirectional`, no
//! Noise, no parsing. What the proxy costs beyond it is the cost of ending and
//! restarting the Noise session and handling stanzas.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// Accepts on `listener` and relays each connection to `upstream` until the listener fails.
pub async fn serve(listener: TcpListener, upstream: SocketAddr) {
    while let Ok((client, _)) = listener.accept().await {
        tokio::spawn(async move {
            let _ = relay(client, upstream).await;
        });
    }
}

/// One connection, until either side closes.
async fn relay(mut client: TcpStream, upstream: SocketAddr) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let mut server = TcpStream::connect(upstream).await?;
    server.set_nodelay(true)?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}
