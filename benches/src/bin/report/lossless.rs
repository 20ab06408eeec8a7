//! The lossless sections of the report (RGB8, 16-bit, grey, RGBA8): vc6 against the png
//! and qoi crates, and the targets they check.

use super::*;

/// One codec over a section.
#[derive(Default)]
struct Codec {
    bytes: u64,
    decode_1: Total,
    /// vc6 only: every core.
    decode_all: Total,
    encode_1: Duration,
    /// vc6 only: every core.
    encode_all: Duration,
}

/// Sizes of one picture.
struct PicSizes {
    name: String,
    w: u32,
    h: u32,
    file: u64,
    vc6: u64,
    png: u64,
    qoi: Option<u64>,
}

pub(super) struct Lossless {
    pictures: usize,
    px: u64,
    layout: String,
    /// The pictures came from PNG files (their sizes are a column).
    from_png: bool,
    vc6: Codec,
    png: Codec,
    qoi: Option<Codec>,
    /// How QOI coded these pictures, when not as they are.
    qoi_note: Option<&'static str>,
    sizes: Vec<PicSizes>,
    /// LoQ k: (k, output pixels, one thread, all cores).
    loq: Option<(u8, u64, Total, Total)>,
}

/// The samples QOI codes for a picture (it takes 3 or 4 channels of 8 bits), and a note
/// when they are not the picture's own.
fn qoi_input(p: &RawPicture) -> Option<(Vec<u8>, Option<&'static str>)> {
    if p.bits != 8 {
        return None;
    }
    Some(match p.channels {
        3 | 4 => (p.samples.clone(), None),
        1 => (
            p.samples.iter().flat_map(|&g| [g, g, g]).collect(),
            Some("QOI has no grey mode: it codes the grey expanded to RGB (R = G = B)"),
        ),
        _ => (
            p.samples
                .chunks_exact(2)
                .flat_map(|s| [s[0], s[0], s[0], s[1]])
                .collect(),
            Some("QOI has no grey mode: it codes grey + alpha expanded to RGBA"),
        ),
    })
}

pub(super) fn lossless_section(
    pics: &[RawPicture],
    dec: &Decoders,
    plan: &Plan,
    loq: Option<u8>,
    with_qoi: bool,
) -> Result<Lossless> {
    let mut s = Lossless {
        pictures: pics.len(),
        px: pics.iter().map(RawPicture::pixel_count).sum(),
        layout: pics
            .iter()
            .map(RawPicture::layout)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", "),
        from_png: pics
            .iter()
            .all(|p| p.name.to_ascii_lowercase().ends_with(".png")),
        vc6: Codec::default(),
        png: Codec::default(),
        qoi: None,
        qoi_note: None,
        sizes: Vec::new(),
        loq: loq.map(|k| (k, 0, Total::default(), Total::default())),
    };
    for p in pics {
        let (w, h, px) = (p.width, p.height, p.pixel_count());
        let rounds = plan.rounds(px);
        let enc_runs = plan.encode_runs(px);
        eprintln!(
            "report:   {} ({w}x{h} {}), {rounds} rounds",
            p.name,
            p.layout()
        );
        let format = p.vc6_format()?;
        let input = p.samples_le();

        // vc6, lossless with default settings; the stream must not depend on threads.
        let enc_all = Encoder::new(w, h, format, EncoderSettings::default())
            .with_context(|| format!("vc6 encoder for {}", p.name))?;
        let enc_1 = Encoder::new(
            w,
            h,
            format,
            EncoderSettings {
                threads: 1,
                ..Default::default()
            },
        )?;
        let (t, stream) = best_of(enc_runs, || Ok(enc_all.encode(&input)?))
            .with_context(|| format!("vc6 encode of {}", p.name))?;
        s.vc6.encode_all += t;
        let (t, stream_1) = best_of(enc_runs, || Ok(enc_1.encode(&input)?))?;
        s.vc6.encode_1 += t;
        ensure!(
            stream_1 == stream,
            "vc6 stream of {} depends on the thread count",
            p.name
        );
        s.vc6.bytes += stream.len() as u64;
        // Bit-exact before timing, on both decoders (also the warm-up).
        let f = dec
            .one
            .decode(&stream)
            .with_context(|| format!("vc6 decode of {}", p.name))?;
        ensure!(
            (f.width, f.height, f.format) == (w, h, format),
            "vc6 decoded {} as {}x{} {:?}",
            p.name,
            f.width,
            f.height,
            f.format
        );
        same_or_bail("vc6 (1 thread)", &p.name, &f.data, &input)?;
        let f = dec.all.decode(&stream)?;
        same_or_bail("vc6 (all cores)", &p.name, &f.data, &input)?;

        // png crate, default compression, in the picture's own layout.
        let (t, png_data) = best_of(enc_runs, || {
            png_encode(&p.samples, w, h, p.channels, p.bits)
        })?;
        s.png.encode_1 += t;
        s.png.bytes += png_data.len() as u64;
        same_or_bail("png", &p.name, &png_decode(&png_data)?, &p.samples)?;

        // qoi crate, where it applies.
        let qoi = if with_qoi { qoi_input(p) } else { None };
        let mut qoi_data = None;
        if let Some((qin, note)) = &qoi {
            let (t, data) = best_of(enc_runs, || Ok(qoi::encode_to_vec(qin, w, h)?))?;
            let (_, back) = qoi::decode_to_vec(&data)?;
            same_or_bail("qoi", &p.name, &back, qin)?;
            let c = s.qoi.get_or_insert_with(Codec::default);
            c.encode_1 += t;
            c.bytes += data.len() as u64;
            s.qoi_note = s.qoi_note.or(*note);
            qoi_data = Some(data);
        }

        // Decodes, round by round.
        let mut v1 = || -> Result<()> {
            black_box(dec.one.decode(&stream)?);
            Ok(())
        };
        let mut va = || -> Result<()> {
            black_box(dec.all.decode(&stream)?);
            Ok(())
        };
        let mut pn = || -> Result<()> {
            black_box(png_decode(&png_data)?);
            Ok(())
        };
        let qd = qoi_data.as_deref().unwrap_or_default();
        let mut qo = || -> Result<()> {
            black_box(qoi::decode_to_vec(qd)?);
            Ok(())
        };
        let mut tasks: Vec<&mut dyn FnMut() -> Result<()>> = vec![&mut v1, &mut va, &mut pn];
        if qoi_data.is_some() {
            tasks.push(&mut qo);
        }
        let stats = interleaved(rounds, &mut tasks)?;
        s.vc6.decode_1.add(stats[0]);
        s.vc6.decode_all.add(stats[1]);
        s.png.decode_1.add(stats[2]);
        if let (Some(c), Some(st)) = (s.qoi.as_mut(), stats.get(3)) {
            c.decode_1.add(*st);
        }

        if let Some((k, out_px, one, all)) = s.loq.as_mut() {
            let region = FrameRegion::full(*k);
            let f = dec.one.decode_region(&stream, region)?;
            *out_px += u64::from(f.width) * u64::from(f.height);
            let mut a = || -> Result<()> {
                black_box(dec.one.decode_region(&stream, region)?);
                Ok(())
            };
            let mut b = || -> Result<()> {
                black_box(dec.all.decode_region(&stream, region)?);
                Ok(())
            };
            let st = interleaved(rounds, &mut [&mut a, &mut b])
                .with_context(|| format!("vc6 decode at LoQ {k} of {}", p.name))?;
            one.add(st[0]);
            all.add(st[1]);
        }

        s.sizes.push(PicSizes {
            name: p.name.clone(),
            w,
            h,
            file: p.file_bytes,
            vc6: stream.len() as u64,
            png: png_data.len() as u64,
            qoi: qoi_data.as_ref().map(|d| d.len() as u64),
        });
    }
    Ok(s)
}

impl Lossless {
    pub(super) fn print(&self, title: &str, cores: usize) {
        let px = self.px;
        println!(
            "{title}\n\n{} picture(s), {:.2} MP, {}. vc6: default encoder settings (lossless); \
             png: the png crate, default compression, in the pictures' own layout; qoi: the qoi \
             crate.{}\n",
            self.pictures,
            px as f64 / 1e6,
            self.layout,
            match (&self.qoi, self.qoi_note) {
                (None, _) => " QOI has no 16-bit mode: no QOI row.".to_string(),
                (Some(_), Some(n)) => format!(" {n}."),
                (Some(_), None) => String::new(),
            }
        );
        println!(
            "| codec | bpp | decode MP/s, 1 thread | decode MP/s, all cores ({cores} threads) | median MP/s, 1 thread / all cores | spread | encode MP/s, 1 thread | encode MP/s, all cores |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        let v = &self.vc6;
        println!(
            "| vc6 | {:.3} | {:.1} | {:.1} | {:.1} / {:.1} | {:.0}% / {:.0}% | {:.1} | {:.1} |",
            bpp(v.bytes, px),
            v.decode_1.mps(px),
            v.decode_all.mps(px),
            v.decode_1.mps_median(px),
            v.decode_all.mps_median(px),
            v.decode_1.spread_percent(),
            v.decode_all.spread_percent(),
            mps(px, v.encode_1),
            mps(px, v.encode_all),
        );
        let peer = |name: &str, c: &Codec| {
            println!(
                "| {name} | {:.3} | {:.1} | (single-threaded) | {:.1} | {:.0}% | {:.1} | — |",
                bpp(c.bytes, px),
                c.decode_1.mps(px),
                c.decode_1.mps_median(px),
                c.decode_1.spread_percent(),
                mps(px, c.encode_1),
            )
        };
        peer("png", &self.png);
        if let Some(q) = &self.qoi {
            peer(
                if self.qoi_note.is_some() {
                    "qoi (as RGB)"
                } else {
                    "qoi"
                },
                q,
            );
        }
        if let Some((k, out_px, one, all)) = &self.loq {
            println!(
                "| vc6 LoQ {k} ({:.2} MP out) | — | {:.1} ({:.1} full-res MP/s) | {:.1} ({:.1} full-res MP/s) | — | {:.0}% / {:.0}% | — | — |",
                *out_px as f64 / 1e6,
                one.mps(*out_px),
                one.mps(px),
                all.mps(*out_px),
                all.mps(px),
                one.spread_percent(),
                all.spread_percent(),
            );
        }

        println!("\nRatios (this run):\n");
        let files: u64 = self.sizes.iter().map(|s| s.file).sum();
        print!(
            "- size: vc6 / png {:.3}",
            v.bytes as f64 / self.png.bytes as f64
        );
        if let Some(q) = &self.qoi {
            print!(", vc6 / qoi {:.3}", v.bytes as f64 / q.bytes as f64);
        }
        if self.from_png {
            print!(
                ", vc6 / the corpus PNG files {:.3} ({:.3} bpp)",
                v.bytes as f64 / files as f64,
                bpp(files, px)
            );
        }
        println!();
        let mut peers = vec![("png", &self.png)];
        if let Some(q) = &self.qoi {
            peers.push(("qoi", q));
        }
        for (name, c) in peers {
            println!(
                "- decode speed vc6 / {name}: 1 thread {:.2}x (medians {:.2}x), all cores {:.2}x (medians {:.2}x)",
                speed(v.decode_1.best, c.decode_1.best),
                speed(v.decode_1.median, c.decode_1.median),
                speed(v.decode_all.best, c.decode_1.best),
                speed(v.decode_all.median, c.decode_1.median),
            );
        }
        println!(
            "- vc6 on all cores against one thread: decode {:.2}x, encode {:.2}x",
            speed(v.decode_all.best, v.decode_1.best),
            speed(v.encode_all, v.encode_1)
        );
        if let Some((_, _, one, all)) = &self.loq {
            println!(
                "- vc6 LoQ decode / full decode time: {:.3} (1 thread), {:.3} (all cores)",
                one.best.as_secs_f64() / v.decode_1.best.as_secs_f64().max(1e-12),
                all.best.as_secs_f64() / v.decode_all.best.as_secs_f64().max(1e-12)
            );
        }

        println!("\nPer picture (bpp):\n");
        let file_col = if self.from_png {
            " corpus PNG file |"
        } else {
            ""
        };
        let file_sep = if self.from_png { "---:|" } else { "" };
        let qoi_col = if self.qoi.is_some() { " qoi |" } else { "" };
        let qoi_sep = if self.qoi.is_some() { "---:|" } else { "" };
        let file_ratio = if self.from_png { " vc6 / file |" } else { "" };
        println!("| picture | size | vc6 | png |{file_col}{qoi_col} vc6 / png |{file_ratio}");
        println!("|---|---|---:|---:|{file_sep}{qoi_sep}---:|{file_sep}");
        for s in &self.sizes {
            let spx = u64::from(s.w) * u64::from(s.h);
            let mut line = format!(
                "| {} | {}x{} | {:.3} | {:.3} |",
                s.name,
                s.w,
                s.h,
                bpp(s.vc6, spx),
                bpp(s.png, spx)
            );
            if self.from_png {
                line += &format!(" {:.3} |", bpp(s.file, spx));
            }
            if let Some(q) = s.qoi {
                line += &format!(" {:.3} |", bpp(q, spx));
            }
            line += &format!(" {:.3} |", s.vc6 as f64 / s.png as f64);
            if self.from_png {
                line += &format!(" {:.3} |", s.vc6 as f64 / s.file as f64);
            }
            println!("{line}");
        }
        println!();
    }

    /// Issue 9's targets for this section (`kind` names which), then the rest of the
    /// comparison as information.
    pub(super) fn targets(&self, label: &str, kind: Section) -> Vec<Target> {
        let px = self.px;
        let v = &self.vc6;
        let vb = bpp(v.bytes, px);
        let mut out = Vec::new();
        let worst_file = self
            .sizes
            .iter()
            .filter(|s| s.file > 0)
            .map(|s| (s.vc6 as f64 / s.file as f64, s.name.as_str()))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let (true, Some((r, name))) = (self.from_png, worst_file) {
            out.push(Target::new(
                format!("{label}: no picture larger than its PNG file in the corpus"),
                format!("worst vc6 / file {r:.3} ({name})"),
                r < 1.0,
            ));
        }
        let speed_vs = |c: &Codec, t: &Total| {
            let r = speed(t.best, c.decode_1.best);
            let text = format!(
                "{r:.2}x ({:.1} against {:.1} MP/s; medians {:.2}x)",
                t.mps(px),
                c.decode_1.mps(px),
                speed(t.median, c.decode_1.median)
            );
            (r, text)
        };
        match kind {
            Section::Rgb8 => {
                out.push(Target::new(
                    format!("{label}: size at most {RGB8_MOST_BPP} bpp (whole folder)"),
                    format!("{vb:.3} bpp"),
                    vb <= RGB8_MOST_BPP,
                ));
                let (r, text) = speed_vs(&self.png, &v.decode_1);
                out.push(Target::new(
                    format!("{label}: decode at least 1.2x the png crate, 1 thread"),
                    text,
                    r >= 1.2,
                ));
                if let Some(q) = &self.qoi {
                    let (r, text) = speed_vs(q, &v.decode_1);
                    out.push(Target::new(
                        format!("{label}: decode at least 1.0x QOI, 1 thread"),
                        text,
                        r >= 1.0,
                    ));
                }
            }
            Section::Rgb16 => {
                out.push(Target::new(
                    format!(
                        "{label}: size no larger than bitstream v1's ({V1_RGB16_BPP} bpp, the \
                         same encoder settings)"
                    ),
                    format!("{vb:.3} bpp"),
                    vb <= V1_RGB16_BPP,
                ));
                out.push(Target::skipped(
                    format!("{label}: decode at least 2x the v1 decoder's speed, 1 thread"),
                    format!(
                        "v1 is not in this build: an A/B run of both decoders is in \
                         docs/performance.md; this run: {:.1} MP/s",
                        v.decode_1.mps(px)
                    ),
                ));
            }
            Section::Grey => {}
        }
        // The rest, for information (not targets of issue 9).
        let pb = bpp(self.png.bytes, px);
        out.push(Target::info(
            format!("{label}: size against the png crate's PNG"),
            format!("{vb:.3} against {pb:.3} bpp ({:.3}x)", vb / pb),
        ));
        let mut peers = vec![("the png crate", &self.png)];
        if let Some(q) = &self.qoi {
            peers.push(("QOI", q));
        }
        for (name, c) in peers {
            for (threads, t) in [("1 thread", &v.decode_1), ("all cores", &v.decode_all)] {
                if kind == Section::Rgb8 && threads == "1 thread" {
                    continue;
                }
                let (_, text) = speed_vs(c, t);
                out.push(Target::info(
                    format!("{label}: decode speed against {name}, {threads}"),
                    text,
                ));
            }
        }
        out
    }
}

/// Which of issue 9's targets a lossless section checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
    Rgb8,
    Rgb16,
    Grey,
}
