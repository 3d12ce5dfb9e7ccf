//! Call recording: a stereo WAV at the call rate, caller left and bot right, written as
//! the call goes. The caller channel follows the caller's media clock; bot audio is
//! placed at the time it was sent, with silence where the bot was quiet.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use tokio::time::Instant;

/// Bot audio is written once the caller channel is this far ahead of it (1 s at 8 kHz).
const RIGHT_LAG: u64 = 8000;

pub struct Recorder {
    writer: hound::WavWriter<BufWriter<File>>,
    path: PathBuf,
    rate: u32,
    start: Instant,
    left: Vec<i16>,
    right: Vec<i16>,
    /// Sample pairs written so far.
    written: u64,
}

fn pcm(s: f32) -> i16 {
    (s.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

impl Recorder {
    pub fn create(path: &Path, rate: u32) -> Result<Self, hound::Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        Ok(Recorder {
            writer: hound::WavWriter::create(path, spec)?,
            path: path.to_path_buf(),
            rate,
            start: Instant::now(),
            left: Vec::new(),
            right: Vec::new(),
            written: 0,
        })
    }

    pub fn caller(&mut self, samples: &[f32]) {
        self.left.extend(samples.iter().map(|&s| pcm(s)));
        let left_end = self.written + self.left.len() as u64;
        let right_end = self.written + self.right.len() as u64;
        if left_end > right_end + RIGHT_LAG {
            self.right.resize(self.right.len() + (left_end - RIGHT_LAG - right_end) as usize, 0);
        }
        self.flush();
    }

    /// A bot frame, sent now.
    pub fn bot(&mut self, samples: &[f32]) {
        let at = (self.start.elapsed().as_micros() as u64 * self.rate as u64 / 1_000_000)
            .saturating_sub(samples.len() as u64);
        let right_end = self.written + self.right.len() as u64;
        if at > right_end {
            self.right.resize(self.right.len() + (at - right_end) as usize, 0);
        }
        self.right.extend(samples.iter().map(|&s| pcm(s)));
        self.flush();
    }

    fn flush(&mut self) {
        let n = self.left.len().min(self.right.len());
        for (&l, &r) in self.left[..n].iter().zip(&self.right[..n]) {
            if self.writer.write_sample(l).and_then(|_| self.writer.write_sample(r)).is_err() {
                break;
            }
        }
        self.left.drain(..n);
        self.right.drain(..n);
        self.written += n as u64;
    }

    /// Pads the shorter channel and closes the file.
    pub fn finish(mut self) {
        let n = self.left.len().max(self.right.len());
        self.left.resize(n, 0);
        self.right.resize(n, 0);
        self.flush();
        if let Err(e) = self.writer.finalize() {
            tracing::warn!(path = %self.path.display(), error = %e, "recording not finalised");
        }
    }
}
