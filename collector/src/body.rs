//! Request bodies: `Content-Encoding` decompression with a hard limit on the output, so a
//! decompression bomb costs at most `limit` bytes of memory.

use std::io::Read;

use bytes::Bytes;

use crate::error::IngestError;

/// Decompresses `body` per its `Content-Encoding`, refusing output beyond `limit` bytes.
pub(crate) fn decompress(encoding: Option<&str>, body: Bytes, limit: usize) -> Result<Bytes, IngestError> {
    let encoding = encoding.map(|e| e.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity" | "none") => {
            if body.len() > limit {
                return Err(IngestError::TooLarge { limit });
            }
            Ok(body)
        }
        Some("gzip" | "x-gzip") => read_limited(flate2::read::MultiGzDecoder::new(&body[..]), limit, "gzip"),
        Some("deflate") => {
            // RFC 9110 "deflate" is zlib-wrapped (what Python sends); some clients send raw
            // deflate. A zlib stream's first byte has compression method 8 in its low nibble.
            if body.first().is_some_and(|b| b & 0x0f == 8) {
                read_limited(flate2::read::ZlibDecoder::new(&body[..]), limit, "deflate")
            } else {
                read_limited(flate2::read::DeflateDecoder::new(&body[..]), limit, "deflate")
            }
        }
        Some("zstd") => {
            let d = zstd::stream::read::Decoder::new(&body[..])
                .map_err(|e| IngestError::BadRequest(format!("invalid zstd body: {e}")))?;
            read_limited(d, limit, "zstd")
        }
        Some(other) => Err(IngestError::UnsupportedEncoding(other.to_string())),
    }
}

fn read_limited(reader: impl Read, limit: usize, what: &str) -> Result<Bytes, IngestError> {
    let mut out = Vec::new();
    let mut limited = reader.take(limit as u64 + 1);
    limited
        .read_to_end(&mut out)
        .map_err(|e| IngestError::BadRequest(format!("invalid {what} body: {e}")))?;
    if out.len() > limit {
        return Err(IngestError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}
