//! `Range: bytes=...` parsing for serving objects (RFC 9110 §14). One range is
//! served as 206; several ranges are answered with the whole object (allowed).

/// An inclusive byte range within an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeError;

/// `Ok(None)`: serve the whole object. `Err`: answer 416.
pub fn parse_range(header: Option<&str>, len: u64) -> Result<Option<ByteRange>, RangeError> {
    let Some(header) = header else {
        return Ok(None);
    };
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        // unknown unit: ignore the header
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.trim().split_once('-').ok_or(RangeError)?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        // suffix: the last N bytes
        let n: u64 = b.parse().map_err(|_| RangeError)?;
        if n == 0 || len == 0 {
            return Err(RangeError);
        }
        ByteRange {
            start: len.saturating_sub(n),
            end: len - 1,
        }
    } else {
        let start: u64 = a.parse().map_err(|_| RangeError)?;
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            let e: u64 = b.parse().map_err(|_| RangeError)?;
            if e < start {
                return Err(RangeError);
            }
            e.min(len.saturating_sub(1))
        };
        if start >= len {
            return Err(RangeError);
        }
        ByteRange { start, end }
    };
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> Result<Option<ByteRange>, RangeError> {
        Ok(Some(ByteRange { start, end }))
    }

    #[test]
    fn forms() {
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-9"), 100), r(0, 9));
        assert_eq!(parse_range(Some("bytes=90-"), 100), r(90, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), r(90, 99));
        assert_eq!(parse_range(Some("bytes=-500"), 100), r(0, 99));
        assert_eq!(parse_range(Some("bytes=50-5000"), 100), r(50, 99));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 100), Ok(None));
    }

    #[test]
    fn unsatisfiable() {
        for h in [
            "bytes=100-",
            "bytes=5-1",
            "bytes=-0",
            "bytes=x-1",
            "bytes=1",
            "bytes=-",
        ] {
            assert_eq!(parse_range(Some(h), 100), Err(RangeError), "{h}");
        }
        assert_eq!(parse_range(Some("bytes=0-"), 0), Err(RangeError));
    }
}
