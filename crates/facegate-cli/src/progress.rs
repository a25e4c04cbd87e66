use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar with rate and ETA on a terminal; on a pipe (CI, `nohup` logs) a plain line every
/// few percent, so background runs still show progress and an ETA.
pub struct Progress {
    bar: ProgressBar,
    plain: bool,
    total: u64,
    label: String,
    start: std::time::Instant,
    last_pct: u64,
}

impl Progress {
    pub fn new(label: &str, total: usize) -> Self {
        let plain = !std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = ProgressBar::with_draw_target(Some(total as u64), if plain { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
        bar.set_style(
            ProgressStyle::with_template("{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta}")
                .expect("static template"),
        );
        bar.set_message(label.to_string());
        Self { bar, plain, total: total as u64, label: label.into(), start: std::time::Instant::now(), last_pct: 0 }
    }

    pub fn inc(&mut self, n: usize) {
        self.bar.inc(n as u64);
        if self.plain && self.total > 0 {
            let pos = self.bar.position();
            let pct = pos * 100 / self.total;
            if pct >= self.last_pct + 5 || pos == self.total {
                self.last_pct = pct;
                let el = self.start.elapsed().as_secs_f64();
                let eta = if pos > 0 { el / pos as f64 * (self.total - pos) as f64 } else { 0.0 };
                eprintln!("{}: {pos}/{} ({pct}%) {:.0}s elapsed, ETA {:.0}s", self.label, self.total, el, eta);
            }
        }
    }

    pub fn set_message(&mut self, msg: &str) {
        self.label = msg.to_string();
        self.bar.set_message(msg.to_string());
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Draws a training run's events: a bar per epoch, a line with dev metrics and the run's ETA
/// after each.
pub fn epoch_reporter(epochs: usize) -> impl FnMut(facegate_train::checkpoint::Event) {
    use facegate_train::checkpoint::Event;
    let mut bar: Option<Progress> = None;
    move |e| match e {
        Event::Step { epoch, step, steps, loss, images_per_s } => {
            let b = bar.get_or_insert_with(|| Progress::new(&format!("epoch {}/{epochs}", epoch + 1), steps));
            b.set_message(&format!("epoch {}/{epochs} loss {loss:.4} {images_per_s:.1} img/s", epoch + 1));
            b.inc(1);
            if step + 1 == steps {
                b.finish();
                bar = None;
            }
        }
        Event::Epoch(log) => eprintln!(
            "epoch {}/{epochs}: loss {:.4}, {:.1} img/s, {:.0}s, run ETA {:.0} min, dev {}",
            log.epoch,
            log.train_loss,
            log.images_per_s,
            log.seconds,
            (epochs - log.epoch) as f64 * log.seconds / 60.0,
            log.dev
        ),
    }
}
