//! The whole-process section in markdown, and the targets it checks.

use super::*;

impl ProcessResults {
    /// Prints the section (markdown); `level` is the heading's `#`s, `number` goes before
    /// its title (`"6. "`, or nothing).
    pub fn print(&self, level: &str, number: &str) {
        println!("{level} {number}Whole process on one core: `vc6 decode` against `ojph_expand` and `djpeg`\n");
        for l in &self.setup {
            println!("- {l}");
        }
        println!();
        let ratio = |peer: &Peer<Coded>, vc6: &Coded| match peer {
            Ok(c) => format!("{:.2}x", c.time.mean / vc6.time.mean),
            Err(_) => "—".into(),
        };
        let ms = |peer: &Peer<Coded>| match peer {
            Ok(c) => c.time.cell(),
            Err(_) => "—".into(),
        };
        println!("{level}# Lossless (both bit-exact, checked before timing)\n");
        println!("| picture | size | vc6 bpp | HTJ2K bpp | vc6 ms | ojph_expand ms | ojph / vc6 |");
        println!("|---|---|---:|---:|---:|---:|---:|");
        for r in &self.lossless {
            let ojph_bpp = match &r.ojph {
                Ok(c) => format!("{:.3}", r.bpp(c)),
                Err(why) => why.clone(),
            };
            println!(
                "| {} | {}x{} | {:.3} | {ojph_bpp} | {} | {} | **{}** |",
                r.name,
                r.size.0,
                r.size.1,
                r.bpp(&r.vc6),
                r.vc6.time.cell(),
                ms(&r.ojph),
                ratio(&r.ojph, &r.vc6),
            );
        }
        println!(
            "\n{level}# Lossy at {} bpp (bpp / PSNR RGB dB; the peers' bisected parameter in the last column)\n",
            self.bpp
        );
        println!(
            "| picture | size | vc6 | HTJ2K | JPEG 4:4:4 | vc6 ms | ojph_expand ms | djpeg ms | ojph / vc6 | djpeg / vc6 | peers' parameters |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        let none: Peer<Coded> = Err("—".into());
        for r in &self.lossy {
            let q = |c: &Coded| format!("{:.3} / {:.2}", r.bpp(c), c.psnr.unwrap_or(f64::NAN));
            let jpeg = r.jpeg.as_ref().unwrap_or(&none);
            let cell = |peer: &Peer<Coded>| match peer {
                Ok(c) => q(c),
                Err(why) => why.clone(),
            };
            let params: Vec<String> = [&r.ojph, jpeg]
                .iter()
                .filter_map(|p| p.as_ref().ok().and_then(|c| c.param.clone()))
                .collect();
            println!(
                "| {} | {}x{} | {} | {} | {} | {} | {} | {} | **{}** | **{}** | {} |",
                r.name,
                r.size.0,
                r.size.1,
                q(&r.vc6),
                cell(&r.ojph),
                cell(jpeg),
                r.vc6.time.cell(),
                ms(&r.ojph),
                ms(jpeg),
                ratio(&r.ojph, &r.vc6),
                ratio(jpeg, &r.vc6),
                params.join(", "),
            );
        }
        println!();
    }

    /// The targets: vc6's whole process faster than each peer's at every picture size.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        let mut add = |what: &str, rows: &[Row], pick: &dyn Fn(&Row) -> Option<&Peer<Coded>>| {
            let target =
                format!("whole process, one core: `vc6 decode` faster than {what} at every size");
            let ratios: Vec<(String, f64)> = rows
                .iter()
                .filter_map(|r| match pick(r) {
                    Some(Ok(c)) => Some((
                        format!("{}x{}", r.size.0, r.size.1),
                        c.time.mean / r.vc6.time.mean,
                    )),
                    _ => None,
                })
                .collect();
            if ratios.is_empty() {
                let why = rows
                    .iter()
                    .find_map(|r| match pick(r) {
                        Some(Err(why)) => Some(why.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "no pictures".into());
                out.push(Target::skipped(target, why));
                return;
            }
            let shown: Vec<String> = ratios
                .iter()
                .map(|(s, r)| format!("{r:.2}x ({s})"))
                .collect();
            out.push(Target::new(
                target,
                format!("peer / vc6 time {}", shown.join(", ")),
                ratios.iter().all(|(_, r)| *r >= 1.0),
            ));
        };
        add("`ojph_expand`, lossless", &self.lossless, &|r| {
            Some(&r.ojph)
        });
        add(
            &format!("`ojph_expand` at {} bpp", self.bpp),
            &self.lossy,
            &|r| Some(&r.ojph),
        );
        add(
            &format!("`djpeg` (JPEG 4:4:4) at {} bpp", self.bpp),
            &self.lossy,
            &|r| r.jpeg.as_ref(),
        );
        // Issue 9 targets OpenJPH; libjpeg-turbo is shown for information.
        if let Some(last) = out.last_mut() {
            last.target = format!("(info) {}", last.target);
            last.met = None;
        }
        out
    }
}
