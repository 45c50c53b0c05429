//! File type detection by magic bytes (never by name or declared content type).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Jpeg,
    Png,
    Gif,
    Webp,
}

impl ImageType {
    pub fn extension(self) -> &'static str {
        match self {
            ImageType::Jpeg => "jpg",
            ImageType::Png => "png",
            ImageType::Gif => "gif",
            ImageType::Webp => "webp",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
            ImageType::Gif => "image/gif",
            ImageType::Webp => "image/webp",
        }
    }
}

/// A video container recognised by [`sniff_video`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoType {
    /// ISO base media (`ftyp` box): MP4, M4V and other brands.
    Mp4,
    /// QuickTime (`ftyp` box with brand `qt  `).
    Mov,
    /// Matroska with DocType `webm`.
    Webm,
    /// Matroska (EBML header) of any other DocType.
    Mkv,
}

impl VideoType {
    pub fn extension(self) -> &'static str {
        match self {
            VideoType::Mp4 => "mp4",
            VideoType::Mov => "mov",
            VideoType::Webm => "webm",
            VideoType::Mkv => "mkv",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            VideoType::Mp4 => "video/mp4",
            VideoType::Mov => "video/quicktime",
            VideoType::Webm => "video/webm",
            VideoType::Mkv => "video/x-matroska",
        }
    }
}

/// The video container of a file from its first bytes: an ISO-BMFF `ftyp` box at
/// offset 4 (MP4/MOV), or the EBML magic `1A 45 DF A3` (WebM/MKV).
pub fn sniff_video(head: &[u8]) -> Option<VideoType> {
    match head {
        [s0, s1, s2, s3, b'f', b't', b'y', b'p', rest @ ..] => {
            // box size: 0 ("to the end of the file") or at least header + major brand
            if u32::from_be_bytes([*s0, *s1, *s2, *s3]) < 12 && [*s0, *s1, *s2, *s3] != [0; 4] {
                return None;
            }
            match rest {
                [b'q', b't', b' ', b' ', ..] => Some(VideoType::Mov),
                _ => Some(VideoType::Mp4),
            }
        }
        [0x1A, 0x45, 0xDF, 0xA3, rest @ ..] => {
            if rest.windows(4).any(|w| w == b"webm") {
                Some(VideoType::Webm)
            } else {
                Some(VideoType::Mkv)
            }
        }
        _ => None,
    }
}

/// The image type of a file from its first bytes.
pub fn sniff_image(head: &[u8]) -> Option<ImageType> {
    match head {
        [0xFF, 0xD8, 0xFF, ..] => Some(ImageType::Jpeg),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(ImageType::Png),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(ImageType::Gif),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some(ImageType::Webp),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_signatures() {
        assert_eq!(
            sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0, 0]),
            Some(ImageType::Jpeg)
        );
        assert_eq!(
            sniff_image(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(ImageType::Png)
        );
        assert_eq!(sniff_image(b"GIF89a...."), Some(ImageType::Gif));
        assert_eq!(
            sniff_image(b"RIFF\x10\0\0\0WEBPVP8 "),
            Some(ImageType::Webp)
        );
    }

    #[test]
    fn video_signatures() {
        let mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2mp41";
        assert_eq!(sniff_video(mp4), Some(VideoType::Mp4));
        assert_eq!(
            sniff_video(b"\0\0\0\x20ftypM4V \0\0\0\0"),
            Some(VideoType::Mp4)
        );
        assert_eq!(
            sniff_video(b"\0\0\0\x14ftypqt  \0\0\x02\0qt  "),
            Some(VideoType::Mov)
        );
        // an EBML header: DocType element 0x4282, length 0x84, "webm"
        let webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm\x42\x87";
        assert_eq!(sniff_video(webm), Some(VideoType::Webm));
        let mkv = b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska";
        assert_eq!(sniff_video(mkv), Some(VideoType::Mkv));
        assert_eq!(VideoType::Mp4.extension(), "mp4");
        assert_eq!(VideoType::Webm.mime(), "video/webm");
    }

    #[test]
    fn video_impostors_are_rejected() {
        for head in [
            &b""[..],
            b"\0\0\0\x18ftu",
            b"ftypisom at the start",
            b"\0\0\0\x01ftypisom",
            b"\x1a\x45\xdf",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
            b"RIFF\x10\0\0\0AVI LIST",
            b"just some text pretending to be movie.mp4",
        ] {
            assert_eq!(sniff_video(head), None, "{head:?}");
        }
        // and a video is not an image
        assert_eq!(sniff_image(b"\0\0\0\x18ftypisom"), None);
    }

    #[test]
    fn impostors_are_rejected() {
        for head in [
            &b""[..],
            b"\x89PN",
            b"<svg xmlns=",
            b"%PDF-1.7",
            b"RIFF\x10\0\0\0WAVEfmt ",
            b"not an image at all, just text named avatar.png",
        ] {
            assert_eq!(sniff_image(head), None, "{head:?}");
        }
    }
}
