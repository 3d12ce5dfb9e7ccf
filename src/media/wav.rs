use std::path::{Path, PathBuf};

/// Mono PCM audio as f32 in [-1, 1] at `rate` Hz.
#[derive(Debug, Clone, PartialEq)]
pub struct Pcm {
    pub rate: u32,
    pub samples: Vec<f32>,
}

impl Pcm {
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / self.rate.max(1) as u64
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("{path}: not a readable WAV file: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("{path}: unsupported WAV format: {reason} (voxline reads 16-bit PCM, mono or stereo)")]
    Unsupported { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// A 16-bit PCM WAV's header and interleaved samples, after the format checks.
fn read_interleaved(path: &Path) -> Result<(hound::WavSpec, Vec<i16>), WavError> {
    let malformed = |reason: String| WavError::Malformed { path: path.into(), reason };
    let file = std::fs::File::open(path).map_err(|source| WavError::Io { path: path.into(), source })?;
    // Past opening, every failure (including a truncated file) is the file's fault.
    let reader = hound::WavReader::new(std::io::BufReader::new(file)).map_err(|e| malformed(e.to_string()))?;
    let spec = reader.spec();
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        return Err(WavError::Unsupported {
            path: path.into(),
            reason: format!("{:?} {}-bit", spec.sample_format, spec.bits_per_sample),
        });
    }
    if spec.channels == 0 || !(4000..=192_000).contains(&spec.sample_rate) {
        return Err(WavError::Unsupported {
            path: path.into(),
            reason: format!("{} channels at {} Hz", spec.channels, spec.sample_rate),
        });
    }
    let interleaved =
        reader.into_samples::<i16>().collect::<Result<Vec<i16>, _>>().map_err(|e| malformed(e.to_string()))?;
    Ok((spec, interleaved))
}

/// Reads a 16-bit PCM WAV (any channel count, any rate) and downmixes to mono.
pub fn read_wav_mono(path: &Path) -> Result<Pcm, WavError> {
    let (spec, interleaved) = read_interleaved(path)?;
    let channels = spec.channels as usize;
    let samples = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().map(|&s| s as f32).sum::<f32>() / (channels as f32 * 32768.0))
        .collect();
    Ok(Pcm { rate: spec.sample_rate, samples })
}

/// Reads a 16-bit PCM WAV's first two channels apart (a call recording: caller left, bot
/// right). A mono file is all left.
pub fn read_wav_stereo(path: &Path) -> Result<(Pcm, Pcm), WavError> {
    let (spec, interleaved) = read_interleaved(path)?;
    let channels = spec.channels as usize;
    let channel = |c: usize| Pcm {
        rate: spec.sample_rate,
        samples: interleaved.chunks_exact(channels).filter_map(|f| f.get(c)).map(|&s| s as f32 / 32768.0).collect(),
    };
    Ok((channel(0), channel(1)))
}

pub fn write_wav_mono(path: &Path, pcm: &Pcm) -> Result<(), WavError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: pcm.rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let io = |e: hound::Error| match e {
        hound::Error::IoError(source) => WavError::Io { path: path.into(), source },
        other => WavError::Malformed { path: path.into(), reason: other.to_string() },
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(io)?;
    for s in &pcm.samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).map_err(io)?;
    }
    w.finalize().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("voxline-wav-{}-{name}", std::process::id()))
    }

    #[test]
    fn stereo_is_downmixed_and_round_trips() {
        let path = tmp("stereo.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for _ in 0..10 {
            w.write_sample(16384i16).unwrap();
            w.write_sample(0i16).unwrap();
        }
        w.finalize().unwrap();
        let pcm = read_wav_mono(&path).unwrap();
        assert_eq!((pcm.rate, pcm.samples.len()), (48_000, 10));
        assert!((pcm.samples[0] - 0.25).abs() < 1e-4);
        let (left, right) = read_wav_stereo(&path).unwrap();
        assert_eq!((left.samples.len(), right.samples.len()), (10, 10));
        assert!((left.samples[0] - 0.5).abs() < 1e-4 && right.samples[0] == 0.0);
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn garbage_and_float_wavs_are_errors() {
        let path = tmp("junk.wav");
        std::fs::write(&path, b"RIFF\x10\x00\x00\x00WAVEjunkjunk").unwrap();
        assert!(matches!(read_wav_mono(&path), Err(WavError::Malformed { .. })));
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        w.write_sample(0.5f32).unwrap();
        w.finalize().unwrap();
        assert!(matches!(read_wav_mono(&path), Err(WavError::Unsupported { .. })));
        assert!(matches!(read_wav_mono(Path::new("/nonexistent.wav")), Err(WavError::Io { .. })));
        std::fs::remove_file(path).ok();
    }
}
