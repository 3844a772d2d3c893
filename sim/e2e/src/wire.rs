//! The log server's wire: each frame is a 4-byte big-endian length, then that many
//! bytes of JSON. Gateways send [`sluice_core::BrokerCommand`]s and receive
//! [`sluice_core::BrokerEvent`]s, the broker boundary's own types, so the simulated
//! log sits behind exactly the interface the real adapters use.

use std::io;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame either side accepts: a bound on what one peer can make the other
/// allocate.
pub const FRAME_BYTES_MAX: usize = 16 << 20;

/// Writes one frame.
pub async fn write_frame<W, T>(writer: &mut W, value: &T) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let body = serde_json::to_vec(value).map_err(io::Error::other)?;
    if body.len() > FRAME_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("frame of {} bytes over the limit", body.len()),
        ));
    }
    let length = u32::try_from(body.len()).map_err(io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&body);
    writer.write_all(&frame).await?;
    writer.flush().await
}

/// Reads one frame; `None` when the peer closed cleanly between frames. Not cancel
/// safe: run it in a task of its own, not as a `select!` branch.
pub async fn read_frame<R, T>(reader: &mut R) -> io::Result<Option<T>>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut length = [0u8; 4];
    match reader.read_exact(&mut length).await {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let length = u32::from_be_bytes(length) as usize;
    if length > FRAME_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("peer announced a frame of {length} bytes, over the limit"),
        ));
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sluice_core::{BrokerCommand, ProduceId, ProduceRequest};

    #[tokio::test]
    async fn frames_round_trip_and_oversized_lengths_are_refused() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let command = BrokerCommand::Produce(ProduceRequest {
            produce: ProduceId(7),
            topic: "t".into(),
            partition: 2,
            key: Some(Bytes::from_static(b"k/1")),
            payload: Bytes::from_static(b"\x00\xffbinary"),
            headers: Vec::new(),
        });
        write_frame(&mut a, &command).await.unwrap();
        let read: Option<BrokerCommand> = read_frame(&mut b).await.unwrap();
        assert_eq!(read, Some(command));

        a.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        let error = read_frame::<_, BrokerCommand>(&mut b).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);

        drop(a);
        let end: Option<BrokerCommand> = read_frame(&mut b).await.unwrap();
        assert_eq!(end, None);
    }
}
