//! Encoding an RGB image as PNG (8-bit truecolour, no interlace), compressed with the
//! zlib stream of `flate2`, whose CRC-32 also checksums the chunks.

use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::{Compression, Crc};

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// The PNG file of a `width` x `height` image whose `pixels` are RGB rows, top to bottom.
pub fn encode_rgb(width: u32, height: u32, pixels: &[u8]) -> std::io::Result<Vec<u8>> {
    let stride = width as usize * 3;
    if pixels.len() != stride * height as usize {
        return Err(std::io::Error::other(format!(
            "{} bytes for a {width}x{height} rgb image",
            pixels.len()
        )));
    }
    // Each row starts with its filter type; `Up` (2) stores the difference to the row
    // above, which plots, mostly flat, compress well.
    let mut filtered = Vec::with_capacity((stride + 1) * height as usize);
    let mut above: &[u8] = &[];
    for row in pixels.chunks_exact(stride.max(1)).take(height as usize) {
        filtered.push(2);
        if above.is_empty() {
            filtered.extend_from_slice(row);
        } else {
            filtered.extend(row.iter().zip(above).map(|(x, b)| x.wrapping_sub(*b)));
        }
        above = row;
    }
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
    zlib.write_all(&filtered)?;
    let data = zlib.finish()?;

    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 2 (truecolour), deflate, adaptive filtering, no interlace.
    header.extend_from_slice(&[8, 2, 0, 0, 0]);

    let mut out = Vec::with_capacity(data.len() + 64);
    out.extend_from_slice(&SIGNATURE);
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &data);
    chunk(&mut out, b"IEND", &[]);
    Ok(out)
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// Splits a PNG into its chunks, checking the signature and every CRC.
    fn chunks(png: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
        assert_eq!(png[..8], SIGNATURE);
        let mut rest = &png[8..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = rest[4..8].try_into().unwrap();
            let data = rest[8..8 + len].to_vec();
            let crc = u32::from_be_bytes(rest[8 + len..12 + len].try_into().unwrap());
            let mut expected = Crc::new();
            expected.update(&kind);
            expected.update(&data);
            assert_eq!(
                crc,
                expected.sum(),
                "crc of {}",
                String::from_utf8_lossy(&kind)
            );
            out.push((kind, data));
            rest = &rest[12 + len..];
        }
        out
    }

    #[test]
    fn an_encoded_image_decodes_to_its_pixels() {
        let (w, h) = (5u32, 3u32);
        let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 256) as u8).collect();
        let png = encode_rgb(w, h, &pixels).unwrap();
        let chunks = chunks(&png);
        let kinds: Vec<&[u8; 4]> = chunks.iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, [b"IHDR", b"IDAT", b"IEND"]);
        let header = &chunks[0].1;
        assert_eq!(u32::from_be_bytes(header[..4].try_into().unwrap()), w);
        assert_eq!(u32::from_be_bytes(header[4..8].try_into().unwrap()), h);
        assert_eq!(header[8..], [8, 2, 0, 0, 0]);
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&chunks[1].1[..])
            .read_to_end(&mut raw)
            .unwrap();
        // Undo the Up filter row by row.
        let stride = (w * 3) as usize;
        let mut decoded: Vec<u8> = Vec::new();
        for (r, row) in raw.chunks(stride + 1).enumerate() {
            assert_eq!(row[0], 2, "filter of row {r}");
            for (i, &v) in row[1..].iter().enumerate() {
                let above = if r == 0 {
                    0
                } else {
                    decoded[(r - 1) * stride + i]
                };
                decoded.push(v.wrapping_add(above));
            }
        }
        assert_eq!(decoded, pixels);
    }

    #[test]
    fn a_buffer_of_the_wrong_size_is_refused() {
        assert!(encode_rgb(4, 4, &[0; 47]).is_err());
    }
}
