//! The lossy section of the report: vc6 at a bit rate against JPEG 4:4:4 at the same size,
//! decoded by zune-jpeg.

use super::*;

#[derive(Default)]
struct LossyCodec {
    bytes: u64,
    sse: u64,
    samples: u64,
    /// Sum of per-picture PSNR (dB).
    psnr_sum: f64,
    decode_1: Total,
    decode_all: Total,
}

impl LossyCodec {
    fn add(&mut self, bytes: usize, original: &[u8], decoded: &[u8]) -> f64 {
        let e = sse(original, decoded);
        let psnr = psnr_from_mse(e as f64 / decoded.len() as f64);
        self.bytes += bytes as u64;
        self.sse += e;
        self.samples += decoded.len() as u64;
        self.psnr_sum += psnr;
        psnr
    }

    fn psnr(&self) -> f64 {
        psnr_from_mse(self.sse as f64 / self.samples.max(1) as f64)
    }
}

/// One picture of the lossy section.
struct LossyPic {
    name: String,
    w: u32,
    h: u32,
    /// vc6's bpp and PSNR (dB).
    vc6: (f64, f64),
    /// JPEG's bpp, PSNR (dB) and quality.
    jpeg: (f64, f64, i32),
}

pub(super) struct Lossy {
    bpp: f64,
    pictures: usize,
    px: u64,
    vc6: LossyCodec,
    jpeg: LossyCodec,
    /// JPEG qualities chosen (lowest, highest).
    q_range: (i32, i32),
    per_pic: Vec<LossyPic>,
}

pub(super) fn lossy_section(
    pics: &[&RawPicture],
    rate: f64,
    dec: &Decoders,
    plan: &Plan,
) -> Result<Lossy> {
    let mut s = Lossy {
        bpp: rate,
        pictures: pics.len(),
        px: pics.iter().map(|p| p.pixel_count()).sum(),
        vc6: LossyCodec::default(),
        jpeg: LossyCodec::default(),
        q_range: (i32::MAX, i32::MIN),
        per_pic: Vec::new(),
    };
    for p in pics {
        ensure!(
            (p.channels, p.bits) == (3, 8),
            "{}: the lossy section takes RGB8 pictures",
            p.name
        );
        let (w, h, px) = (p.width, p.height, p.pixel_count());
        let rounds = plan.rounds(px);
        eprintln!("report:   {} ({w}x{h}), {rounds} rounds", p.name);
        let rgb = &p.samples;
        let settings = EncoderSettings {
            target_bpp: Some(rate),
            quality: None,
            ..EncoderSettings::from_preset(vc6::Preset::Better)
        };
        let stream = Encoder::new(w, h, PixelFormat::Rgb8, settings)?
            .encode(rgb)
            .with_context(|| format!("vc6 lossy encode of {}", p.name))?;
        let one = dec.one.decode(&stream)?.data;
        let all = dec.all.decode(&stream)?.data;
        ensure!(
            one.len() == rgb.len(),
            "vc6 lossy decode of {}: {} bytes, expected {}",
            p.name,
            one.len(),
            rgb.len()
        );
        ensure!(
            one == all,
            "vc6 lossy decode of {} differs between one thread and all cores",
            p.name
        );
        let vp = s.vc6.add(stream.len(), rgb, &one);
        ensure!(
            vp > 12.0,
            "vc6's lossy decode of {} is nothing like the original ({vp:.2} dB)",
            p.name
        );

        let target = target_bytes(px, rate);
        let fit = bisect_int(1, 100, target, |q| {
            jpeg_encode_rgb8(rgb, w as usize, h as usize, q as u8, false, true)
        })
        .with_context(|| format!("JPEG of {}", p.name))?;
        let jpeg = fit.bytes;
        let decoded = zune_decode_rgb8(&jpeg)?;
        ensure!(
            decoded.len() == rgb.len(),
            "zune-jpeg decoded {} to the wrong size",
            p.name
        );
        let jp = s.jpeg.add(jpeg.len(), rgb, &decoded);
        s.q_range = (s.q_range.0.min(fit.param), s.q_range.1.max(fit.param));

        let mut a = || -> Result<()> {
            black_box(dec.one.decode(&stream)?);
            Ok(())
        };
        let mut b = || -> Result<()> {
            black_box(dec.all.decode(&stream)?);
            Ok(())
        };
        let mut c = || -> Result<()> {
            black_box(zune_decode_rgb8(&jpeg)?);
            Ok(())
        };
        let st = interleaved(rounds, &mut [&mut a, &mut b, &mut c])?;
        s.vc6.decode_1.add(st[0]);
        s.vc6.decode_all.add(st[1]);
        s.jpeg.decode_1.add(st[2]);
        s.per_pic.push(LossyPic {
            name: p.name.clone(),
            w,
            h,
            vc6: (bpp(stream.len() as u64, px), vp),
            jpeg: (bpp(jpeg.len() as u64, px), jp, fit.param),
        });
    }
    Ok(s)
}

impl Lossy {
    pub(super) fn print(&self, quick: bool, cores: usize) {
        let px = self.px;
        println!("## 2. Lossy RGB8 at {} bpp (`rgb8/`)\n", self.bpp);
        println!(
            "{} picture(s){}, {:.2} MP, each coded on its own at the rate. vc6: preset `better` \
             with `target_bpp` (the encoder's rate control). JPEG 4:4:4: jpeg-encoder {} \
             (optimised Huffman tables), quality bisected per picture to the same size, decoded \
             by zune-jpeg {}. PSNR over R, G, B (peak 255): pooled over the pictures, and the \
             mean of per-picture dB.\n",
            self.pictures,
            if quick { " (--quick: every 4th)" } else { "" },
            px as f64 / 1e6,
            JPEG_ENCODER_VERSION,
            ZUNE_JPEG_VERSION
        );
        println!(
            "| codec | bpp | PSNR RGB (dB) | mean dB | decode MP/s, 1 thread | decode MP/s, all cores ({cores} threads) | median MP/s, 1 thread / all cores | spread | settings |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
        let (v, j) = (&self.vc6, &self.jpeg);
        let n = self.pictures.max(1) as f64;
        println!(
            "| vc6 | {:.3} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} / {:.1} | {:.0}% / {:.0}% | preset better, target_bpp {} |",
            bpp(v.bytes, px),
            v.psnr(),
            v.psnr_sum / n,
            v.decode_1.mps(px),
            v.decode_all.mps(px),
            v.decode_1.mps_median(px),
            v.decode_all.mps_median(px),
            v.decode_1.spread_percent(),
            v.decode_all.spread_percent(),
            self.bpp
        );
        println!(
            "| JPEG 4:4:4 | {:.3} | {:.2} | {:.2} | {:.1} | (single-threaded) | {:.1} | {:.0}% | q {}–{} (bisected); zune-jpeg |",
            bpp(j.bytes, px),
            j.psnr(),
            j.psnr_sum / n,
            j.decode_1.mps(px),
            j.decode_1.mps_median(px),
            j.decode_1.spread_percent(),
            self.q_range.0,
            self.q_range.1
        );
        println!("\nRatios (this run):\n");
        println!(
            "- decode speed vc6 / zune-jpeg: 1 thread {:.2}x (medians {:.2}x), all cores {:.2}x (medians {:.2}x)",
            speed(v.decode_1.best, j.decode_1.best),
            speed(v.decode_1.median, j.decode_1.median),
            speed(v.decode_all.best, j.decode_1.best),
            speed(v.decode_all.median, j.decode_1.median),
        );
        println!(
            "- PSNR vc6 − JPEG 4:4:4: {:+.2} dB pooled, {:+.2} dB mean of pictures, at {:.3} against {:.3} bpp",
            v.psnr() - j.psnr(),
            (v.psnr_sum - j.psnr_sum) / n,
            bpp(v.bytes, px),
            bpp(j.bytes, px)
        );
        println!("\nPer picture (bpp / PSNR dB):\n");
        println!("| picture | size | vc6 | JPEG 4:4:4 | JPEG quality |");
        println!("|---|---|---:|---:|---:|");
        for p in &self.per_pic {
            let ((vb, vp), (jb, jp, q)) = (p.vc6, p.jpeg);
            println!(
                "| {} | {}x{} | {vb:.3} / {vp:.2} | {jb:.3} / {jp:.2} | {q} |",
                p.name, p.w, p.h
            );
        }
        println!();
    }

    pub(super) fn targets(&self) -> Vec<Target> {
        let (v, j, px) = (&self.vc6, &self.jpeg, self.px);
        let n = self.pictures.max(1) as f64;
        let mut out = Vec::new();
        for (threads, t) in [("1 thread", &v.decode_1), ("all cores", &v.decode_all)] {
            let r = speed(t.best, j.decode_1.best);
            let what = format!(
                "lossy {} bpp: decode at least 1.0x zune-jpeg (JPEG 4:4:4, same rate), {threads}",
                self.bpp
            );
            let measured = format!(
                "{r:.2}x ({:.1} against {:.1} MP/s; medians {:.2}x)",
                t.mps(px),
                j.decode_1.mps(px),
                speed(t.median, j.decode_1.median)
            );
            out.push(match threads {
                "1 thread" => Target::new(what, measured, r >= 1.0),
                _ => Target::info(what, measured),
            });
        }
        let (vm, jm) = (v.psnr_sum / n, j.psnr_sum / n);
        let all = self.pictures >= 16;
        let what = format!(
            "lossy {} bpp: mean PSNR no lower than bitstream v1's ({V1_LOSSY_MEAN_DB} dB, whole corpus)",
            self.bpp
        );
        let measured = format!("{vm:.2} dB over {} pictures", self.pictures);
        out.push(if all && self.bpp == 1.25 {
            Target::new(what, measured, vm >= V1_LOSSY_MEAN_DB)
        } else {
            Target::skipped(
                what,
                format!("{measured}: not the whole corpus at 1.25 bpp"),
            )
        });
        out.push(Target::info(
            format!(
                "lossy {} bpp: PSNR against JPEG 4:4:4 at the same rate",
                self.bpp
            ),
            format!(
                "{vm:.2} against {jm:.2} dB mean ({:+.2}); pooled {:.2} against {:.2}",
                vm - jm,
                v.psnr(),
                j.psnr()
            ),
        ));
        out
    }
}
