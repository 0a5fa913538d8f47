//! Share cards: what a custodian is handed, as PNG and SVG. Each card shows a plain header,
//! a QR code of the share's text line, and the same line as typeable text.
//!
//! The card files also carry the text line in a machine-readable place (a PNG `tEXt` chunk,
//! an SVG `<desc>`), so `keyrite` reads a card file without scanning its QR code.
//!
//! Text is drawn with the public-domain 8x8 bitmap font of `font8x8` rather than a font
//! rasteriser: the cards need only Latin text, and a bitmap font keeps the ceremony image small.

use std::fmt::Write as _;
use std::io::Cursor;
use std::path::Path;

use font8x8::UnicodeFonts;
use qrcode::{Color, EcLevel, QrCode};
use zeroize::Zeroizing;

/// PNG `tEXt` keyword and SVG `<desc>` id under which a card carries its text line.
pub const CARD_TEXT_KEY: &str = "keyrite-share";

/// Everything printed on a card.
///
/// The share's text, and everything drawn from it, is held in buffers zeroized on drop and
/// sized up front so they do not leave copies behind as they grow. (The PNG encoder keeps its
/// own copy of the text chunk, which this code cannot wipe.)
pub struct CardFace {
    /// Plain header lines, top to bottom.
    pub header: Vec<String>,
    /// The QR code's content: the share's text line.
    pub qr: Zeroizing<String>,
    /// The typeable lines.
    pub typed: Zeroizing<Vec<String>>,
}

/// A card that could not be drawn or read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CardError(pub String);

/// A card's geometry: the QR modules, the text lines, and where each goes, in pixels.
struct Layout {
    width: usize,
    modules: Vec<bool>,
    header: Vec<String>,
    footer: Zeroizing<Vec<String>>,
    w: usize,
    h: usize,
    qr_top: usize,
    footer_top: usize,
}

const MODULE_PX: usize = 6;
const QUIET_MODULES: usize = 4;
const FONT_SCALE: usize = 2;
const LINE_PX: usize = 8 * FONT_SCALE + 6;
const MARGIN_PX: usize = 24;

/// The QR code's modules, row by row (true = dark).
pub fn qr_modules(text: &str) -> Result<(usize, Vec<bool>), CardError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| CardError(format!("the share does not fit a QR code ({e})")))?;
    let modules = code
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Ok((code.width(), modules))
}

impl CardFace {
    /// Where everything goes, shared by both renderings.
    fn layout(&self) -> Result<Layout, CardError> {
        let (width, modules) = qr_modules(&self.qr)?;
        let mut header = self.header.clone();
        header.push(String::new());
        let mut footer = Zeroizing::new(Vec::with_capacity(self.typed.len() + 1));
        footer.push("Typed form (line/lines, groups, check):".to_owned());
        footer.extend(self.typed.iter().cloned());
        let qr_px = (width + 2 * QUIET_MODULES) * MODULE_PX;
        let text_px = header
            .iter()
            .chain(footer.iter())
            .map(|l| l.chars().count() * 8 * FONT_SCALE)
            .max()
            .unwrap_or(0);
        let qr_top = MARGIN_PX + header.len() * LINE_PX;
        let footer_top = qr_top + qr_px;
        Ok(Layout {
            width,
            modules,
            w: 2 * MARGIN_PX + qr_px.max(text_px),
            h: footer_top + footer.len() * LINE_PX + MARGIN_PX,
            header,
            footer,
            qr_top,
            footer_top,
        })
    }

    /// Renders the card as SVG.
    pub fn to_svg(&self) -> Result<Zeroizing<String>, CardError> {
        let Layout {
            width,
            modules,
            header,
            footer,
            w,
            h,
            qr_top,
            footer_top,
        } = self.layout()?;
        // Room for the text and one path segment per dark module.
        let text_len: usize = header
            .iter()
            .chain(footer.iter())
            .map(|l| l.len() + 80)
            .sum();
        let mut svg = Zeroizing::new(String::with_capacity(
            1024 + self.qr.len() + text_len + modules.len() * 24,
        ));
        let _ = write!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n\
             <desc id=\"{CARD_TEXT_KEY}\">"
        );
        xml_escape_into(&mut svg, &self.qr);
        let _ = write!(
            svg,
            "</desc>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <g font-family=\"DejaVu Sans Mono, monospace\" font-size=\"{}\" fill=\"black\">\n",
            8 * FONT_SCALE
        );
        let mut text = |lines: &[String], top: usize| {
            for (i, line) in lines.iter().enumerate() {
                let y = top + i * LINE_PX + 8 * FONT_SCALE;
                let _ = write!(
                    svg,
                    "<text x=\"{MARGIN_PX}\" y=\"{y}\" xml:space=\"preserve\">"
                );
                xml_escape_into(&mut svg, line);
                svg.push_str("</text>\n");
            }
        };
        text(&header, MARGIN_PX);
        text(&footer, footer_top);
        svg.push_str("</g>\n<path fill=\"black\" d=\"");
        let x0 = MARGIN_PX + QUIET_MODULES * MODULE_PX;
        let y0 = qr_top + QUIET_MODULES * MODULE_PX;
        for (i, dark) in modules.iter().enumerate() {
            if *dark {
                let (x, y) = (x0 + (i % width) * MODULE_PX, y0 + (i / width) * MODULE_PX);
                let _ = write!(svg, "M{x} {y}h{MODULE_PX}v{MODULE_PX}h-{MODULE_PX}z");
            }
        }
        svg.push_str("\"/>\n</svg>\n");
        Ok(svg)
    }

    /// Renders the card as an 8-bit grayscale PNG.
    pub fn to_png(&self) -> Result<Zeroizing<Vec<u8>>, CardError> {
        let Layout {
            width,
            modules,
            header,
            footer,
            w,
            h,
            qr_top,
            footer_top,
        } = self.layout()?;
        let mut canvas = Canvas {
            w,
            pixels: vec![0xff; w * h],
        };
        for (i, line) in header.iter().enumerate() {
            canvas.text(MARGIN_PX, MARGIN_PX + i * LINE_PX, line);
        }
        for (i, line) in footer.iter().enumerate() {
            canvas.text(MARGIN_PX, footer_top + i * LINE_PX, line);
        }
        let x0 = MARGIN_PX + QUIET_MODULES * MODULE_PX;
        let y0 = qr_top + QUIET_MODULES * MODULE_PX;
        for (i, dark) in modules.iter().enumerate() {
            if *dark {
                canvas.fill(
                    x0 + (i % width) * MODULE_PX,
                    y0 + (i / width) * MODULE_PX,
                    MODULE_PX,
                );
            }
        }
        let fail = |e: png::EncodingError| CardError(format!("encoding the PNG card failed: {e}"));
        // Compressed image data never exceeds the raw pixels plus the chunks' overhead.
        let mut out = Zeroizing::new(Vec::with_capacity(w * h + h + self.qr.len() + 4096));
        let (pw, ph) = (
            u32::try_from(w).map_err(|_| CardError("card too wide".into()))?,
            u32::try_from(h).map_err(|_| CardError("card too tall".into()))?,
        );
        let mut encoder = png::Encoder::new(&mut *out, pw, ph);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .add_text_chunk(CARD_TEXT_KEY.to_owned(), self.qr.to_string())
            .map_err(fail)?;
        let mut writer = encoder.write_header().map_err(fail)?;
        writer.write_image_data(&canvas.pixels).map_err(fail)?;
        writer.finish().map_err(fail)?;
        Ok(out)
    }
}

struct Canvas {
    w: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn fill(&mut self, x: usize, y: usize, size: usize) {
        for row in y..y + size {
            let start = row * self.w + x;
            self.pixels[start..start + size].fill(0);
        }
    }

    fn text(&mut self, x: usize, y: usize, line: &str) {
        for (i, c) in line.chars().enumerate() {
            let glyph = font8x8::BASIC_FONTS
                .get(c)
                .or_else(|| font8x8::LATIN_FONTS.get(c))
                .or_else(|| font8x8::BASIC_FONTS.get('?'))
                .unwrap_or([0; 8]);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        self.fill(
                            x + (i * 8 + col) * FONT_SCALE,
                            y + row * FONT_SCALE,
                            FONT_SCALE,
                        );
                    }
                }
            }
        }
    }
}

fn xml_escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// Reads the share text from a card file (PNG or SVG made by keyrite), or a text file holding
/// a decoded QR line or typed lines.
pub fn read_share_text(path: &Path) -> Result<zeroize::Zeroizing<String>, CardError> {
    // A card's PNG is a few hundred kilobytes; opened without following a link or blocking
    // on a FIFO.
    let bytes = zeroize::Zeroizing::new(
        crate::sys::input::read(path, 16 * 1024 * 1024, crate::sys::input::Links::Refuse)
            .map_err(|e| CardError(e.to_string()))?,
    );
    let not_a_card = |why: &str| {
        CardError(format!(
            "{} is not a keyrite share card ({why}): give a card's PNG or SVG, or a text file with the share's text",
            path.display()
        ))
    };
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        let reader = png::Decoder::new(Cursor::new(&bytes[..]))
            .read_info()
            .map_err(|e| not_a_card(&format!("unreadable PNG: {e}")))?;
        return reader
            .info()
            .uncompressed_latin1_text
            .iter()
            .find(|t| t.keyword == CARD_TEXT_KEY)
            .map(|t| zeroize::Zeroizing::new(t.text.clone()))
            .ok_or_else(|| not_a_card("a PNG without keyrite's share text"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| not_a_card("binary data"))?;
    if text.trim_start().starts_with("<svg") || text.trim_start().starts_with("<?xml") {
        let open = format!("<desc id=\"{CARD_TEXT_KEY}\">");
        let start = text
            .find(&open)
            .map(|i| i + open.len())
            .ok_or_else(|| not_a_card("an SVG without keyrite's share text"))?;
        let end = text[start..]
            .find("</desc>")
            .ok_or_else(|| not_a_card("a truncated SVG"))?;
        return Ok(zeroize::Zeroizing::new(text[start..start + end].to_owned()));
    }
    Ok(zeroize::Zeroizing::new(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face() -> CardFace {
        CardFace {
            header: vec!["keyrite root key share".into(), "Custodian: Zoë".into()],
            qr: Zeroizing::new("KRS1ABCDEFGHIJKLMNOP234567".into()),
            typed: Zeroizing::new(vec!["01/01  KRS1 ABCD  XXXX".into()]),
        }
    }

    #[test]
    fn png_and_svg_cards_carry_their_text_line() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("c.png");
        let svg = dir.path().join("c.svg");
        std::fs::write(&png, &*face().to_png().unwrap()).unwrap();
        std::fs::write(&svg, face().to_svg().unwrap().as_bytes()).unwrap();
        assert_eq!(*read_share_text(&png).unwrap(), *face().qr);
        assert_eq!(*read_share_text(&svg).unwrap(), *face().qr);
    }

    #[test]
    fn a_png_that_is_not_a_card_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("photo.png");
        let mut face = face();
        face.qr = Zeroizing::new("x".into());
        let mut bytes = face.to_png().unwrap().to_vec();
        // Rename the text chunk's keyword so it is an ordinary PNG with some text.
        let at = bytes
            .windows(13)
            .position(|w| w == b"keyrite-share")
            .unwrap();
        bytes[at..at + 7].copy_from_slice(b"comment");
        std::fs::write(&png, bytes).unwrap();
        let err = read_share_text(&png).unwrap_err().to_string();
        assert!(
            err.contains("photo.png is not a keyrite share card"),
            "{err}"
        );
    }
}
