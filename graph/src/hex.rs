//! Bytes as lower-case hexadecimal: digests in reports and manifests, and the magic numbers
//! of files that are not what they claim to be in error messages.

/// `bytes` as lower-case hexadecimal, two digits per byte, nothing between them (a digest).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `bytes` as lower-case hexadecimal, a space between bytes (a file's first bytes).
pub fn spaced_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_byte_is_two_lower_case_digits() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(spaced_hex(&[0x93, b'N', 0x01]), "93 4e 01");
        assert_eq!(hex(&[]), "");
        assert_eq!(spaced_hex(&[]), "");
    }
}
