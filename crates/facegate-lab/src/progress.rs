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
    /// Where the bar started (a resumed epoch starts part-way): the rate counts from here.
    first: u64,
}

impl Progress {
    pub fn new(label: &str, total: usize) -> Self {
        let plain = !std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = ProgressBar::with_draw_target(Some(total as u64), if plain { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
        bar.set_style(ProgressStyle::with_template("{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta}").expect("static template"));
        bar.set_message(label.to_string());
        Self { bar, plain, total: total as u64, label: label.into(), start: std::time::Instant::now(), last_pct: 0, first: 0 }
    }

    /// A bar `done` of `total` along already (an epoch resumed part-way).
    pub fn resumed(label: &str, total: usize, done: usize) -> Self {
        let mut p = Self::new(label, total);
        p.bar.set_position(done as u64);
        p.bar.reset_eta();
        p.first = done as u64;
        p.last_pct = done as u64 * 100 / p.total.max(1);
        p
    }

    pub fn inc(&mut self, n: usize) {
        self.bar.inc(n as u64);
        if self.plain && self.total > 0 {
            let pos = self.bar.position();
            let pct = pos * 100 / self.total;
            if pct >= self.last_pct + 5 || pos == self.total {
                self.last_pct = pct;
                let el = self.start.elapsed().as_secs_f64();
                let run = pos - self.first;
                let eta = if run > 0 { el / run as f64 * (self.total - pos) as f64 } else { 0.0 };
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
            let b = bar.get_or_insert_with(|| Progress::resumed(&format!("epoch {}/{epochs}", epoch + 1), steps, step));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A resumed epoch's bar starts where the run left off, and its rate (hence its ETA)
    /// counts only the steps run since.
    #[test]
    fn a_resumed_bar_starts_part_way() {
        let mut p = Progress::resumed("epoch 2/4", 931, 400);
        assert_eq!(p.bar.position(), 400);
        p.inc(1);
        assert_eq!((p.bar.position(), p.bar.position() - p.first), (401, 1));
        assert_eq!(Progress::new("epoch 1/4", 931).first, 0);
    }
}
